// Package eval measures how well a search finds agents from a sentence:
// the labelled evaluation set of semantic discovery and the harness that
// scores a search over it.
//
// The set lives in discovery/testdata/eval: agents/*.ossa.yaml, OSSA Agent
// manifests of every kind of agent a registry holds, near neighbours
// included, and queries.yaml, sentences as users type them, each with the
// agent that should come first. Load reads both the way the platform
// reads them (the manifest package validates every manifest and derives
// its registry entry), and checks that every query names an agent of the
// set.
//
// Evaluate runs a search, any func from a sentence to ranked agent names,
// over the queries and reports recall@1, recall@3 and the mean reciprocal
// rank of the expected agent; KeywordSearch is the word-overlap baseline a
// real search must beat. docs/discovery-evaluation.md describes the set
// and how to run it.
package eval
