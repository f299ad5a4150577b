package sqlstore

import (
	"encoding/binary"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/ossa-platform/platform"
)

// AuditColumns are the columns of the audit_log table, in the order
// AuditArgs gives their values and the stores scan them.
const AuditColumns = `id, time, principal_kind, principal_subject, namespace, action, target_kind, target_id,
	target_name, request_id, source, outcome, detail, count`

// StampAudit returns records ready to write: each checked, its Time at the
// stores' precision (now when zero), its ID a UUIDv7 of that time, its
// Detail cut to platform.MaxAuditDetail. A record that fails its Check
// fails them all.
func StampAudit(records []platform.AuditRecord, now time.Time) ([]platform.AuditRecord, error) {
	out := make([]platform.AuditRecord, len(records))
	for i, a := range records {
		if err := a.Check(); err != nil {
			return nil, err
		}
		if a.Time.IsZero() {
			a.Time = now
		}
		a.Time = Micro(a.Time)
		id, err := AuditID(a.Time)
		if err != nil {
			return nil, err
		}
		a.ID = id
		a.Detail = platform.Truncate(a.Detail, platform.MaxAuditDetail)
		out[i] = a
	}
	return out, nil
}

// AuditID returns a new UUIDv7 whose timestamp is t's millisecond, so that
// audit records written by several replicas, or written after the denials
// they count, still list in time order by ID.
func AuditID(t time.Time) (string, error) {
	u, err := uuid.NewV7()
	if err != nil {
		return "", err
	}
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(max(t.UnixMilli(), 0)))
	copy(u[:6], ms[2:])
	return u.String(), nil
}

// AuditWhere returns the condition on the audit_log table that selects
// what f selects (its page cursor after), with arg turning each value into
// a placeholder ("$1" or "?") and at turning a time into the value the
// store keeps.
func AuditWhere(f platform.AuditFilter, after string, arg func(any) string, at func(time.Time) any) string {
	where := []string{"TRUE"}
	if f.Namespaces != nil {
		if len(f.Namespaces) == 0 {
			return "FALSE"
		}
		in := make([]string, len(f.Namespaces))
		for i, ns := range f.Namespaces {
			in[i] = arg(ns)
		}
		where = append(where, "namespace IN ("+strings.Join(in, ", ")+")")
	}
	if after != "" {
		where = append(where, "id < "+arg(after))
	}
	if f.PrincipalKind != "" {
		where = append(where, "principal_kind = "+arg(string(f.PrincipalKind)))
	}
	if f.Principal != "" {
		where = append(where, "principal_subject = "+arg(f.Principal))
	}
	if prefix, ok := f.ActionPrefix(); ok {
		// substr counts characters in both databases; the length is a
		// number this code wrote.
		where = append(where, "substr(action, 1, "+strconv.Itoa(utf8.RuneCountInString(prefix))+") = "+arg(prefix))
	} else if f.Action != "" {
		where = append(where, "action = "+arg(f.Action))
	}
	if f.TargetKind != "" {
		where = append(where, "target_kind = "+arg(f.TargetKind))
	}
	if f.Target != "" {
		where = append(where, "(target_id = "+arg(f.Target)+" OR target_name = "+arg(f.Target)+")")
	}
	if f.Outcome != "" {
		where = append(where, "outcome = "+arg(string(f.Outcome)))
	}
	if !f.Since.IsZero() {
		where = append(where, "time >= "+arg(at(Micro(f.Since))))
	}
	if !f.Until.IsZero() {
		where = append(where, "time < "+arg(at(Micro(f.Until))))
	}
	return strings.Join(where, " AND ")
}

// AuditArgs are a's values in AuditColumns' order, its time as at gives
// it.
func AuditArgs(a *platform.AuditRecord, at func(time.Time) any) []any {
	return []any{a.ID, at(a.Time), string(a.Principal.Kind), a.Principal.Subject, a.Namespace, a.Action,
		a.Target.Kind, a.Target.ID, a.Target.Name, a.RequestID, a.Source, string(a.Outcome), a.Detail, a.Count}
}

// AuditInsert returns the statement that inserts n audit records, with
// ph(i) the placeholder of the i-th value (0-based) overall.
func AuditInsert(n int, ph func(i int) string) string {
	const cols = 14
	var b strings.Builder
	b.WriteString(`INSERT INTO audit_log (` + AuditColumns + `) VALUES `)
	for r := range n {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(")
		for c := range cols {
			if c > 0 {
				b.WriteString(", ")
			}
			b.WriteString(ph(r*cols + c))
		}
		b.WriteString(")")
	}
	return b.String()
}
