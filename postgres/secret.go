package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/internal/sqlstore"
)

var _ platform.SecretStore = (*DB)(nil)

// PutSecret stores a sealed secret, or replaces the value of the one of
// that name, in one statement: concurrent puts of one name take turns on
// its row, and the last one wins.
func (db *DB) PutSecret(ctx context.Context, s *platform.SealedSecret) (bool, error) {
	if err := sqlstore.CheckSealed(s); err != nil {
		return false, err
	}
	now := db.timestamp()
	var created bool
	err := db.change(ctx, func(tx pgx.Tx, rec *sqlstore.Recorder) error {
		// xmax is 0 on a row the statement inserted, and set on one it
		// updated. updated_at moves forward, even within one microsecond.
		err := tx.QueryRow(ctx, `INSERT INTO secrets (namespace, name, key_id, ciphertext, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $5)
			ON CONFLICT (namespace, name) DO UPDATE SET key_id = excluded.key_id, ciphertext = excluded.ciphertext,
				updated_at = greatest(excluded.updated_at, secrets.updated_at + interval '1 microsecond')
			RETURNING created_at, updated_at, xmax = 0`,
			s.Namespace, s.Name, s.KeyID, s.Ciphertext, now).Scan(&s.CreatedAt, &s.UpdatedAt, &created)
		if err != nil {
			return fmt.Errorf("store secret %q: %w", s.Name, err)
		}
		s.CreatedAt, s.UpdatedAt = s.CreatedAt.UTC(), s.UpdatedAt.UTC()
		rec.Audit(platform.NewAudit(ctx, platform.AuditSecretPut, s.Namespace,
			platform.AuditTarget{Kind: platform.AuditTargetSecret, Name: s.Name}))
		return nil
	})
	return created, err
}

// FindSecret returns one sealed secret.
func (db *DB) FindSecret(ctx context.Context, namespace, name string) (*platform.SealedSecret, error) {
	s := &platform.SealedSecret{Secret: platform.Secret{Namespace: namespace, Name: name}}
	err := db.pool.QueryRow(ctx, `SELECT key_id, ciphertext, created_at, updated_at FROM secrets
		WHERE namespace = $1 AND name = $2`, namespace, name).Scan(&s.KeyID, &s.Ciphertext, &s.CreatedAt, &s.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, sqlstore.SecretNotFound(namespace, name)
	}
	if err != nil {
		return nil, fmt.Errorf("read secret %q: %w", name, err)
	}
	s.CreatedAt, s.UpdatedAt = s.CreatedAt.UTC(), s.UpdatedAt.UTC()
	return s, nil
}

// ListSecrets returns one page of secrets in namespace and name order.
func (db *DB) ListSecrets(ctx context.Context, f platform.SecretFilter) (platform.SecretPage, error) {
	limit := sqlstore.PageSize(f.Limit)
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	where := []string{"TRUE"}
	if f.Namespace != platform.AllNamespaces {
		where = []string{"namespace = " + arg(f.Namespace)}
	}
	if f.NotKeyID != "" {
		where = append(where, "key_id <> "+arg(f.NotKeyID))
	}
	if f.AfterNamespace != "" || f.AfterName != "" {
		afterNS := f.AfterNamespace
		if afterNS == "" {
			afterNS = f.Namespace
		}
		ns, name := arg(afterNS), arg(f.AfterName)
		where = append(where, `(namespace COLLATE "C" > `+ns+` OR (namespace = `+ns+` AND name COLLATE "C" > `+name+`))`)
	}
	// COLLATE "C", here and in the cursor's condition, orders by bytes,
	// as SQLite does, whatever the database's collation.
	rows, err := db.pool.Query(ctx, `SELECT namespace, name, key_id, created_at, updated_at FROM secrets
		WHERE `+strings.Join(where, " AND ")+` ORDER BY namespace COLLATE "C", name COLLATE "C" LIMIT `+arg(limit+1), args...)
	if err != nil {
		return platform.SecretPage{}, err
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*platform.Secret, error) {
		s := new(platform.Secret)
		err := r.Scan(&s.Namespace, &s.Name, &s.KeyID, &s.CreatedAt, &s.UpdatedAt)
		s.CreatedAt, s.UpdatedAt = s.CreatedAt.UTC(), s.UpdatedAt.UTC()
		return s, err
	})
	if err != nil {
		return platform.SecretPage{}, err
	}
	page := platform.SecretPage{Items: items}
	if len(items) > limit {
		page.Items, page.More = items[:limit], true
	}
	return page, nil
}

// DeleteSecret removes one secret.
func (db *DB) DeleteSecret(ctx context.Context, namespace, name string) error {
	return db.change(ctx, func(tx pgx.Tx, rec *sqlstore.Recorder) error {
		tag, err := tx.Exec(ctx, `DELETE FROM secrets WHERE namespace = $1 AND name = $2`, namespace, name)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return sqlstore.SecretNotFound(namespace, name)
		}
		rec.Audit(platform.NewAudit(ctx, platform.AuditSecretDelete, namespace,
			platform.AuditTarget{Kind: platform.AuditTargetSecret, Name: name}))
		return nil
	})
}

// ResealSecret replaces the sealed value of a secret still sealed as old.
func (db *DB) ResealSecret(ctx context.Context, namespace, name string, old []byte, keyID string, ciphertext []byte) (bool, error) {
	var done bool
	err := db.change(ctx, func(tx pgx.Tx, _ *sqlstore.Recorder) error {
		tag, err := tx.Exec(ctx, `UPDATE secrets SET key_id = $3, ciphertext = $4
			WHERE namespace = $1 AND name = $2 AND ciphertext = $5`, namespace, name, keyID, ciphertext, old)
		done = tag.RowsAffected() == 1
		return err
	})
	return done, err
}
