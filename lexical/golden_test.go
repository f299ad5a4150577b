package lexical_test

// The golden figures of TestGolden.
const (
	goldenSum      = 1.8003
	goldenWeighted = 278.3815
	goldenNonzero  = 30
)
