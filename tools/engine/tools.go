//go:build tools

// Package engine pins the Go modules the Pulumi engine is built from.
// Nothing imports it: it only keeps `go mod tidy` from dropping the
// requirements. scripts/build-engine.sh builds these main packages with the
// exact versions recorded in go.mod and go.sum.
package engine

import (
	// The Pulumi CLI (`pulumi`).
	_ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
)
