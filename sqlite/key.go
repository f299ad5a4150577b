package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/internal/sqlstore"
)

var _ platform.KeyStore = (*DB)(nil)

const keyColumns = `id, namespace, name, prefix, hash, namespaces, scopes, created_by, created_at, expires_at, last_used_at, revoked_at`

// CreateKey stores a new API key, setting its ID and CreatedAt.
func (db *DB) CreateKey(ctx context.Context, k *platform.APIKey) error {
	_, err := db.createKey(ctx, k, false)
	return err
}

// CreateFirstKey stores k only if the store holds no key.
func (db *DB) CreateFirstKey(ctx context.Context, k *platform.APIKey) (bool, error) {
	return db.createKey(ctx, k, true)
}

func (db *DB) createKey(ctx context.Context, k *platform.APIKey, first bool) (bool, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return false, err
	}
	row := *k
	row.ID, row.CreatedAt = id.String(), db.timestamp()
	stored := false
	err = db.change(ctx, func(tx *sql.Tx, rec *sqlstore.Recorder) error {
		if first {
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM api_keys LIMIT 1`).Scan(&one)
			if err == nil {
				return nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO api_keys (`+keyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			row.ID, row.Namespace, row.Name, row.Prefix, row.Hash, encodeJSON(orEmpty(row.Namespaces)), encodeJSON(orEmpty(row.Scopes)),
			row.CreatedBy, row.CreatedAt.UnixMicro(), microsOrNull(row.ExpiresAt), nil, nil)
		if err := translate(err); err != nil {
			if platform.ErrorCode(err) == platform.ECONFLICT {
				return platform.Errorf(platform.ECONFLICT, "an API key with prefix %s exists already", row.Prefix)
			}
			return err
		}
		stored = true
		rec.Audit(platform.NewAudit(ctx, platform.AuditKeyCreate, row.Namespace,
			platform.AuditTarget{Kind: platform.AuditTargetKey, ID: row.ID, Name: row.Prefix}))
		return nil
	})
	if err != nil || !stored {
		return false, err
	}
	*k = row
	return true, nil
}

// FindKeyByPrefix returns the key with that prefix, in any namespace.
func (db *DB) FindKeyByPrefix(ctx context.Context, prefix string) (*platform.APIKey, error) {
	k, err := scanKey(db.db.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE prefix = ?`, prefix))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, platform.Errorf(platform.ENOTFOUND, "no API key has prefix %s", prefix)
	}
	return k, err
}

// ListKeys returns a namespace's keys, or every one's, in ID order.
func (db *DB) ListKeys(ctx context.Context, namespace string) ([]*platform.APIKey, error) {
	q, args := `SELECT `+keyColumns+` FROM api_keys WHERE namespace = ? ORDER BY id`, []any{namespace}
	if namespace == platform.AllNamespaces {
		q, args = `SELECT `+keyColumns+` FROM api_keys ORDER BY id`, nil
	}
	rows, err := db.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	out := []*platform.APIKey{}
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, translate(rows.Err())
}

// RevokeKey marks a namespace's key revoked.
func (db *DB) RevokeKey(ctx context.Context, namespace, id string) (*platform.APIKey, error) {
	var k *platform.APIKey
	now := db.timestamp()
	err := db.change(ctx, func(tx *sql.Tx, rec *sqlstore.Recorder) error {
		if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE (? = '*' OR namespace = ?) AND id = ?`,
			now.UnixMicro(), namespace, namespace, id); err != nil {
			return translate(err)
		}
		var err error
		k, err = scanKey(tx.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE (? = '*' OR namespace = ?) AND id = ?`, namespace, namespace, id))
		if errors.Is(err, sql.ErrNoRows) {
			return platform.Errorf(platform.ENOTFOUND, "no API key %q in namespace %q", id, namespace)
		}
		// A key revoked already keeps its time, and its revocation
		// changes nothing to audit.
		if err == nil && k.RevokedAt != nil && k.RevokedAt.Equal(now) {
			rec.Audit(platform.NewAudit(ctx, platform.AuditKeyRevoke, k.Namespace,
				platform.AuditTarget{Kind: platform.AuditTargetKey, ID: k.ID, Name: k.Prefix}))
		}
		return err
	})
	return k, err
}

// TouchKeys records when keys were last used.
func (db *DB) TouchKeys(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	return db.withTx(ctx, func(tx *sql.Tx) error {
		for id, at := range used {
			if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET last_used_at = max(coalesce(last_used_at, 0), ?) WHERE id = ?`,
				at.UTC().UnixMicro(), id); err != nil {
				return translate(err)
			}
		}
		return nil
	})
}

func scanKey(row interface{ Scan(...any) error }) (*platform.APIKey, error) {
	var (
		k                            platform.APIKey
		namespaces, scopes           string
		created                      int64
		expires, lastUsed, revokedAt sql.NullInt64
	)
	if err := row.Scan(&k.ID, &k.Namespace, &k.Name, &k.Prefix, &k.Hash, &namespaces, &scopes, &k.CreatedBy,
		&created, &expires, &lastUsed, &revokedAt); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(namespaces), &k.Namespaces); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(scopes), &k.Scopes); err != nil {
		return nil, err
	}
	k.CreatedAt = time.UnixMicro(created).UTC()
	k.ExpiresAt, k.LastUsedAt, k.RevokedAt = timeOrNil(expires), timeOrNil(lastUsed), timeOrNil(revokedAt)
	return &k, nil
}

// orEmpty is s, or an empty list for nil, so a column holds [] not null.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
