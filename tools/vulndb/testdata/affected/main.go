// Command vulncheck-control calls a function with a known vulnerability on
// purpose (see go.mod). It is never built into the platform.
package main

import (
	"fmt"

	"golang.org/x/text/language"
)

func main() {
	tag, err := language.Parse("en-US")
	fmt.Println(tag, err)
}
