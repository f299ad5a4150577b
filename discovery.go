package platform

import (
	"context"
	"slices"
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

// DiscoveryQuery asks for the agents that best fit a sentence.
type DiscoveryQuery struct {
	// Text is what the caller needs, in words: "extract line items from
	// PDF invoices".
	Text string
	// Limit is how many agents at most, 1 to MaxPageSize.
	Limit int
	// Namespaces confine the search to what the caller sees.
	Namespaces []string
	// Type, Status, Capability and Labels filter as AgentFilter's do.
	Type       AgentType
	Status     AgentStatus
	Capability string
	Labels     map[string]string
}

// Discovered is one agent a discovery found, and why.
type Discovered struct {
	Agent *Agent `json:"agent"`
	// Score is the reciprocal rank fusion of the two rankings: the sum of
	// 1/(60+rank) over the rankings that found the agent.
	Score float64 `json:"score"`
	// Similarity is the cosine similarity of the agent's embedding with
	// the text's, and VectorRank its rank by it (1 is best); absent when
	// the vector index did not find it.
	Similarity *float32 `json:"similarity,omitempty"`
	VectorRank int      `json:"vector_rank,omitempty"`
	// TextRank is its rank by full-text search; absent when the words did
	// not find it.
	TextRank int `json:"text_rank,omitempty"`
	// Matched are the fields that hold words of the text: name,
	// description, capabilities, labels.
	Matched []string `json:"matched"`
	// Available is false for an inactive or unhealthy agent, which ranks
	// after every available one.
	Available bool `json:"available"`
}

// Discoverer finds agents from a sentence: the discovery service.
type Discoverer interface {
	Discover(ctx context.Context, q DiscoveryQuery) ([]Discovered, error)
}

// MaxDiscoveryText is the longest text discovery searches for: a
// sentence or a short paragraph.
const MaxDiscoveryText = 1000

// Validate reports what makes q unusable: no text, a limit out of range,
// filters that are not valid. EINVALID.
func (q *DiscoveryQuery) Validate() error {
	var p Problems
	if strings.TrimSpace(q.Text) == "" {
		p.Add("q", "is required: say in words what the agent should do")
	} else if len(q.Text) > MaxDiscoveryText {
		p.Add("q", "must be at most %d bytes", MaxDiscoveryText)
	}
	if q.Limit < 1 || q.Limit > MaxPageSize {
		p.Add("limit", "must be from 1 to %d, not %d", MaxPageSize, q.Limit)
	}
	if q.Type != "" && !slices.Contains(AgentTypes, q.Type) {
		p.Add("type", "must be one of %s", QuoteList(AgentTypes))
	}
	if q.Status != "" && !slices.Contains(AgentStatuses, q.Status) {
		p.Add("status", "must be one of %s", QuoteList(AgentStatuses))
	}
	return p.Err("the discovery query is not valid")
}
