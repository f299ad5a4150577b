package sqlstore

import (
	"slices"
	"strings"

	"github.com/ossa-platform/platform"
)

// EventColumns are the columns an event is read from, in Event's order.
const EventColumns = `id, type, time, agent, run_id, data, namespace`

// EventWhere returns the condition on the events table that selects what q
// selects, with arg turning each value into a placeholder ("$1" or "?").
func EventWhere(q platform.EventQuery, arg func(any) string) string {
	where := "id > " + arg(q.After)
	if len(q.Namespaces) > 0 {
		in := make([]string, len(q.Namespaces))
		for i, ns := range q.Namespaces {
			in[i] = arg(ns)
		}
		where += " AND namespace IN (" + strings.Join(in, ", ") + ")"
	}
	if len(q.Channels) == 0 || slices.ContainsFunc(q.Channels, platform.Channel.All) {
		return where
	}
	var anyOf []string
	for _, c := range q.Channels {
		switch {
		case c.RunID != "":
			anyOf = append(anyOf, "run_id = "+arg(c.RunID))
		case c.Agent != "":
			anyOf = append(anyOf, "agent = "+arg(c.Agent))
		default:
			anyOf = append(anyOf, "stream = "+arg(c.Stream))
		}
	}
	return where + " AND (" + strings.Join(anyOf, " OR ") + ")"
}

// EventLimit is q's limit, DefaultEventBatch when unset, at most 10,000.
func EventLimit(q platform.EventQuery) int {
	if q.Limit <= 0 {
		return platform.DefaultEventBatch
	}
	return min(q.Limit, 10_000)
}
