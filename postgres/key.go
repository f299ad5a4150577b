package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/internal/sqlstore"
)

var _ platform.KeyStore = (*DB)(nil)

const keyColumns = `id, namespace, name, prefix, hash, namespaces, scopes, created_by, created_at, expires_at, last_used_at, revoked_at`

// firstKeyLock is the transaction-scoped advisory lock under which
// CreateFirstKey looks for a key and makes the first: gateways starting at
// once on one database take turns, so one of them makes it.
const firstKeyLock = 0x6f7373616b6579 // "ossakey"

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
	err = db.change(ctx, func(tx pgx.Tx, rec *sqlstore.Recorder) error {
		if first {
			var exists bool
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(firstKeyLock)); err != nil {
				return err
			}
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM api_keys)`).Scan(&exists); err != nil || exists {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO api_keys (`+keyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, NULL)`,
			row.ID, row.Namespace, row.Name, row.Prefix, row.Hash, stringsOf(row.Namespaces), stringsOf(row.Scopes),
			row.CreatedBy, row.CreatedAt, row.ExpiresAt)
		if isUniqueViolation(err) {
			return platform.Errorf(platform.ECONFLICT, "an API key with prefix %s exists already", row.Prefix)
		}
		if err != nil {
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
	k, err := scanKey(db.pool.QueryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE prefix = $1`, prefix))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, platform.Errorf(platform.ENOTFOUND, "no API key has prefix %s", prefix)
	}
	return k, err
}

// ListKeys returns a namespace's keys, or every one's, in ID order.
func (db *DB) ListKeys(ctx context.Context, namespace string) ([]*platform.APIKey, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE $1 = '*' OR namespace = $1 ORDER BY id`, namespace)
	if err != nil {
		return nil, err
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
	return out, rows.Err()
}

// RevokeKey marks a namespace's key revoked.
func (db *DB) RevokeKey(ctx context.Context, namespace, id string) (*platform.APIKey, error) {
	notFound := platform.Errorf(platform.ENOTFOUND, "no API key %q in namespace %q", id, namespace)
	uid, err := uuid.Parse(id)
	if err != nil {
		return nil, notFound
	}
	var k *platform.APIKey
	now := db.timestamp()
	err = db.change(ctx, func(tx pgx.Tx, rec *sqlstore.Recorder) error {
		var err error
		k, err = scanKey(tx.QueryRow(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, $1)
			WHERE ($2 = '*' OR namespace = $2) AND id = $3 RETURNING `+keyColumns, now, namespace, uid))
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound
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
	ids, times := make([]uuid.UUID, 0, len(used)), make([]time.Time, 0, len(used))
	for id, at := range used {
		uid, err := uuid.Parse(id)
		if err != nil {
			continue
		}
		ids, times = append(ids, uid), append(times, at.UTC())
	}
	if len(ids) == 0 {
		return nil
	}
	_, err := db.pool.Exec(ctx, `UPDATE api_keys k SET last_used_at = greatest(k.last_used_at, u.at)
		FROM unnest($1::uuid[], $2::timestamptz[]) AS u(id, at) WHERE k.id = u.id`, ids, times)
	return err
}

func scanKey(row pgx.Row) (*platform.APIKey, error) {
	var (
		k      platform.APIKey
		id     uuid.UUID
		scopes []string
	)
	if err := row.Scan(&id, &k.Namespace, &k.Name, &k.Prefix, &k.Hash, &k.Namespaces, &scopes, &k.CreatedBy,
		&k.CreatedAt, &k.ExpiresAt, &k.LastUsedAt, &k.RevokedAt); err != nil {
		return nil, err
	}
	k.ID = id.String()
	for _, s := range scopes {
		k.Scopes = append(k.Scopes, platform.Scope(s))
	}
	k.CreatedAt = k.CreatedAt.UTC()
	for _, t := range []*time.Time{k.ExpiresAt, k.LastUsedAt, k.RevokedAt} {
		if t != nil {
			*t = t.UTC()
		}
	}
	return &k, nil
}

// stringsOf is a list of string-like values as []string, never nil.
func stringsOf[T ~string](s []T) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = string(v)
	}
	return out
}
