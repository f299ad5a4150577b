// Package expr is the expression language of OSSA workflows: the
// ${{ expression }} templates of a step's input and the expressions of
// conditions and loops. It reads values, compares them and calls a few pure
// functions; it assigns nothing, loops over nothing and runs no code.
// docs/workflows.md describes the language.
//
// Parse, ParseCondition and ParseTemplates parse; an *Expr evaluates
// against a scope (Eval), prints its canonical form (String) and lists the
// paths it reads (Refs), which is how the workflow compiler in package
// manifest checks that every reference names something that exists.
// Render and Condition parse and evaluate in one call. Errors are *Error,
// located by byte offset in the string they were found in. Every
// expression is bounded in length, nesting and work (MaxLen, MaxDepth,
// MaxCost), since both manifests and step outputs may be hostile.
//
// The package imports only the standard library.
package expr
