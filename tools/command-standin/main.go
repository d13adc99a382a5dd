// pulumi-resource-command: a stand-in for pulumi-command v1.2.1, built by sync-release for
// tests and the local demo (the released plugin cannot be downloaded where this project is
// built). It serves command:local:Command only.
package main

import (
	"context"
	"fmt"
	"os"

	"sync-release/tools/command-standin/provider"
)

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "-version" || os.Args[1] == "--version") {
		fmt.Println(provider.Version)
		return
	}
	if err := provider.New().Run(context.Background(), provider.Name, provider.Version); err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-command (stand-in): %v\n", err)
		os.Exit(1)
	}
}
