package platform

import (
	"context"
	"strings"
	"unicode"
)

// Full-text search over agents, the lexical half of discovery: both stores
// keep a text index of every agent's name, description, capabilities
// (tool names among them) and labels, written in the same transaction as
// the agent.

// TextQuery is a full-text search of agents.
type TextQuery struct {
	// Terms are the words to look for (SearchTerms of the user's text):
	// an agent matches when it has any of them, ranked by how well.
	Terms []string
	// Namespaces confine the search (AllNamespaces among them: every
	// one); empty finds nothing.
	Namespaces []string
	// Type, Status, Capability and Labels filter as VectorQuery's do.
	Type       AgentType
	Status     AgentStatus
	Capability string
	Labels     map[string]string
	// Limit is how many hits at most, 1 to MaxVectorLimit.
	Limit int
}

// TextHit is one full-text match: the agent, and its rank among the hits
// (higher is better; comparable within one answer only).
type TextHit struct {
	ID        string
	Namespace string
	Score     float64
}

// AgentTextSearch finds agents by the words of their text.
type AgentTextSearch interface {
	// SearchAgentText returns the agents that match q, best first.
	SearchAgentText(ctx context.Context, q TextQuery) ([]TextHit, error)
}

// maxSearchTerms bounds the words of one search.
const maxSearchTerms = 32

// searchStopwords are the words of a question that say nothing of an
// agent ("which agent can ..."): every store would match them everywhere.
var searchStopwords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`a an and any are as at be by can could do does for from find get give has have
		how i in into is it its me my need needs of on or out please should so some that the their them then there
		these this those to up us use want we what when where which who will with would you your agent agents one`) {
		searchStopwords[w] = true
	}
}

// SearchTerms splits text into the lower-case words a text search looks
// for: letters and digits, without stopwords and repeats, at most 32.
// The words hold only letters and digits, so they are safe in any query
// syntax.
func SearchTerms(text string) []string {
	var out []string
	seen := map[string]bool{}
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}) {
		if searchStopwords[w] || seen[w] || len(w) > 64 {
			continue
		}
		seen[w] = true
		out = append(out, w)
		if len(out) == maxSearchTerms {
			break
		}
	}
	return out
}
