package main

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// decodeInput reads a call's input, which must be a JSON object, into v.
func decodeInput(input json.RawMessage, v any, want string) error {
	if len(input) == 0 || string(input) == "null" || input[0] != '{' {
		return badInputf("input must be a JSON object: %s", want)
	}
	if err := json.Unmarshal(input, v); err != nil {
		return badInputf("input: %v; want %s", err, want)
	}
	return nil
}

// --- summarize ---

// summarizeInput is the input of summarize.
type summarizeInput struct {
	Text string `json:"text"`
	// MaxWords caps the summary; default 25.
	MaxWords int `json:"max_words"`
}

type summarizeOutput struct {
	Summary string `json:"summary"`
	Words   int    `json:"words"`
}

// summarize sums a text up as its first sentence, cut at max_words words.
func summarize(input json.RawMessage) (any, error) {
	const want = `{"text": "...", "max_words": 25}`
	in := summarizeInput{MaxWords: 25}
	if err := decodeInput(input, &in, want); err != nil {
		return nil, err
	}
	switch {
	case strings.TrimSpace(in.Text) == "":
		return nil, badInputf("input.text is required: the text to summarize")
	case in.MaxWords < 1 || in.MaxWords > 1000:
		return nil, badInputf("input.max_words must be from 1 to 1000, not %d", in.MaxWords)
	}
	words := strings.Fields(firstSentence(in.Text))
	summary := strings.Join(words, " ")
	if len(words) > in.MaxWords {
		words = words[:in.MaxWords]
		summary = strings.Join(words, " ") + "…"
	}
	return summarizeOutput{Summary: summary, Words: len(words)}, nil
}

// firstSentence is text up to its first '.', '!' or '?' that ends a word,
// or up to its first blank line, or all of it.
func firstSentence(text string) string {
	text = strings.TrimSpace(text)
	if i := strings.Index(text, "\n\n"); i >= 0 {
		text = text[:i]
	}
	runes := []rune(text)
	for i, r := range runes {
		if (r == '.' || r == '!' || r == '?') && (i+1 == len(runes) || unicode.IsSpace(runes[i+1])) {
			return string(runes[:i+1])
		}
	}
	return text
}

// --- fetch ---

type fetchInput struct {
	Repo string `json:"repo"`
}

// change is a repository's latest change, as a code host would describe it.
type change struct {
	Repo        string   `json:"repo"`
	Commit      string   `json:"commit"`
	Author      string   `json:"author"`
	Title       string   `json:"title"`
	Description string   `json:"description"`
	Files       []string `json:"files"`
	Diff        string   `json:"diff"`
}

var repoRe = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)

// fetch returns the latest change of input.repo. It is made up, the same
// for every call with one repo, and plausible enough for review to find
// something in: it reaches no code host.
func fetch(input json.RawMessage) (any, error) {
	var in fetchInput
	if err := decodeInput(input, &in, `{"repo": "owner/name"}`); err != nil {
		return nil, err
	}
	switch {
	case in.Repo == "":
		return nil, badInputf("input.repo is required: a repository as owner/name, such as acme/api")
	case !repoRe.MatchString(in.Repo):
		return nil, badInputf("input.repo must be a repository as owner/name, such as acme/api, not %q", in.Repo)
	}
	owner, name, _ := strings.Cut(in.Repo, "/")
	sum := sha1.Sum([]byte(in.Repo + "\x00" + sampleDiff))
	return change{
		Repo:   in.Repo,
		Commit: hex.EncodeToString(sum[:]),
		Author: "Dana Reyes <dana@" + strings.ToLower(owner) + ".example>",
		Title:  "Paginate GET /users",
		Description: "ListUsers takes a limit query parameter and passes it on to the store, so that clients of " + name +
			" can page through the users. The store adds the limit to its query.",
		Files: []string{"internal/handler/users.go", "internal/store/users.go"},
		Diff:  sampleDiff,
	}, nil
}

// sampleDiff is the change fetch describes: a unified diff of two files,
// with a few things for a reviewer to point out.
const sampleDiff = `diff --git a/internal/handler/users.go b/internal/handler/users.go
index 3b18e51..a9c2f04 100644
--- a/internal/handler/users.go
+++ b/internal/handler/users.go
@@ -12,10 +12,13 @@ type Handler struct {
 
 // ListUsers answers GET /users.
 func (h *Handler) ListUsers(w http.ResponseWriter, r *http.Request) {
-	users, err := h.store.Users(r.Context())
+	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
+	// TODO: cap the limit at 100
+	users, err := h.store.Users(r.Context(), limit)
 	if err != nil {
 		http.Error(w, err.Error(), http.StatusInternalServerError)
 		return
 	}
+	fmt.Println("listed users:", len(users))
 	json.NewEncoder(w).Encode(users)
 }
diff --git a/internal/store/users.go b/internal/store/users.go
index 77c0d2e..5e1f3b9 100644
--- a/internal/store/users.go
+++ b/internal/store/users.go
@@ -20,8 +20,9 @@ func New(db *sql.DB) *Store {
 
-// Users returns every user, oldest first.
-func (s *Store) Users(ctx context.Context) ([]User, error) {
-	rows, err := s.db.QueryContext(ctx, "SELECT id, name FROM users ORDER BY id")
+// Users returns the first limit users, oldest first.
+func (s *Store) Users(ctx context.Context, limit int) ([]User, error) {
+	q := fmt.Sprintf("SELECT id, name FROM users ORDER BY id LIMIT %d", limit)
+	rows, err := s.db.QueryContext(ctx, q)
 	if err != nil {
 		return nil, err
 	}
 	defer rows.Close()
`

// --- review ---

type reviewInput struct {
	Diff string `json:"diff"`
}

// finding is one thing review points out, on a line the diff adds.
type finding struct {
	File     string `json:"file"`
	Line     int    `json:"line"`     // in the new version of the file
	Severity string `json:"severity"` // error, warning or info
	Rule     string `json:"rule"`
	Message  string `json:"message"`
	Code     string `json:"code"` // the line, trimmed
}

type reviewOutput struct {
	// Approved is true when no finding is an error.
	Approved bool      `json:"approved"`
	Summary  string    `json:"summary"`
	Files    int       `json:"files"`
	Findings []finding `json:"findings"`
}

// rules are what review looks for in the lines a diff adds, each a
// regular expression: a linter's few favourite rules, not a linter.
var rules = []struct {
	id, severity string
	re           *regexp.Regexp
	message      string
}{
	{"sql-format", "error", regexp.MustCompile(`fmt\.Sprintf\(\s*"\s*(?i:select|insert|update|delete)\b`),
		"SQL built with fmt.Sprintf: pass the values as query arguments"},
	{"hardcoded-secret", "error", regexp.MustCompile(`(?i)(password|secret|token|api_?key)\w*"?\s*(:=|=|:)\s*"[^"]+"`),
		"a credential written into the code: read it from the environment or a secret store"},
	{"ignored-error", "warning", regexp.MustCompile(`(^\s*_\s*|,\s*_\s*):?=[^=]`),
		"a value, probably an error, is discarded: handle it, or say in a comment why it cannot fail"},
	{"debug-print", "warning", regexp.MustCompile(`\bfmt\.Print(ln|f)?\(`),
		"a debug print: use the logger"},
	{"todo", "info", regexp.MustCompile(`\b(TODO|FIXME|XXX)\b`),
		"unfinished work: finish it, or open an issue and link it"},
}

var hunkRe = regexp.MustCompile(`^@@ -\d+(?:,(\d+))? \+(\d+)(?:,(\d+))? @@`)

// review reads a unified diff and reports what rules find on its added
// lines.
func review(input json.RawMessage) (any, error) {
	var in reviewInput
	if err := decodeInput(input, &in, `{"diff": "a unified diff"}`); err != nil {
		return nil, err
	}
	if strings.TrimSpace(in.Diff) == "" {
		return nil, badInputf("input.diff is required: a unified diff, as git diff prints it")
	}
	out := reviewOutput{Findings: []finding{}}
	var file string
	// Inside a hunk, oldLeft and newLeft count the lines still to come
	// on each side; line is the new file's line number.
	var oldLeft, newLeft, line int
	for _, l := range strings.Split(in.Diff, "\n") {
		if oldLeft > 0 || newLeft > 0 {
			switch {
			case strings.HasPrefix(l, "+"):
				out.Findings = append(out.Findings, check(file, line, l[1:])...)
				line, newLeft = line+1, newLeft-1
			case strings.HasPrefix(l, "-"):
				oldLeft--
			case strings.HasPrefix(l, `\`): // "\ No newline at end of file"
			default: // context, " line" (or "" where an editor trimmed it)
				line, oldLeft, newLeft = line+1, oldLeft-1, newLeft-1
			}
			continue
		}
		switch {
		case strings.HasPrefix(l, "+++ "):
			if name := strings.TrimPrefix(l[4:], "b/"); name != "/dev/null" {
				file = name
			}
			out.Files++
		case strings.HasPrefix(l, "--- "):
			file = strings.TrimPrefix(l[4:], "a/") // kept when the file is deleted
		case strings.HasPrefix(l, "@@"):
			m := hunkRe.FindStringSubmatch(l)
			if m == nil {
				return nil, badInputf("input.diff: %q is not a hunk header such as \"@@ -12,10 +12,13 @@\"", l)
			}
			oldLeft, newLeft = count(m[1]), count(m[3])
			line, _ = strconv.Atoi(m[2])
		}
	}
	if out.Files == 0 {
		return nil, badInputf("input.diff is not a unified diff: it has no \"+++ b/file\" line")
	}
	out.Summary, out.Approved = verdict(out.Findings, out.Files)
	return out, nil
}

// count is a hunk header's line count: absent means 1.
func count(s string) int {
	if s == "" {
		return 1
	}
	n, _ := strconv.Atoi(s)
	return n
}

// check applies every rule to one added line.
func check(file string, line int, code string) []finding {
	var found []finding
	for _, r := range rules {
		if r.re.MatchString(code) {
			found = append(found, finding{File: file, Line: line, Severity: r.severity, Rule: r.id,
				Message: r.message, Code: strings.TrimSpace(code)})
		}
	}
	return found
}

// verdict sums the findings up in a sentence, and approves a change
// without errors.
func verdict(findings []finding, files int) (summary string, approved bool) {
	bySeverity := map[string]int{}
	for _, f := range findings {
		bySeverity[f.Severity]++
	}
	var counts []string
	for _, s := range []string{"error", "warning", "info"} {
		if n := bySeverity[s]; n > 0 {
			counts = append(counts, plural(n, s))
		}
	}
	approved = bySeverity["error"] == 0
	switch {
	case len(findings) == 0:
		return fmt.Sprintf("No findings in %s: approved.", plural(files, "file")), true
	case approved:
		return fmt.Sprintf("%s in %s (%s): approved.", plural(len(findings), "finding"), plural(files, "file"), strings.Join(counts, ", ")), true
	}
	return fmt.Sprintf("%s in %s (%s): changes requested.", plural(len(findings), "finding"), plural(files, "file"), strings.Join(counts, ", ")), false
}

func plural(n int, noun string) string {
	if n == 1 || noun == "info" {
		return fmt.Sprintf("%d %s", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
