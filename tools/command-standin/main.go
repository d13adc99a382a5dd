// pulumi-resource-command: a stand-in for pulumi-command v1.2.1, built by sync-release for
// tests and the local demo (the released plugin cannot be downloaded where this project is
// built). It serves command:local:Command, command:remote:Command and
// command:remote:CopyToRemote only.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/pulumi/pulumi-go-provider/infer"

	"sync-release/tools/command-standin/local"
	"sync-release/tools/command-standin/remote"
)

// Version is the plugin version @pulumi/command 1.2.1 asks the engine for.
const Version = "1.2.1"

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "-version" || os.Args[1] == "--version") {
		fmt.Println(Version)
		return
	}
	prov, err := remote.NewProvider(infer.Resource(&local.Command{}))
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-command (stand-in): %v\n", err)
		os.Exit(1)
	}
	if err := prov.Run(context.Background(), "command", Version); err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-command (stand-in): %v\n", err)
		os.Exit(1)
	}
}
