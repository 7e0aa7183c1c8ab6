//go:build tools

// Package tools pins the Node.js language host: sdk/v3 v3.68.0 is the last
// release that carries it inside the sdk module.
package tools

import _ "github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs"
