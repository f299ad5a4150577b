package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/internal/sqlstore"
)

// The vector index of semantic discovery on pgvector: agent_vectors holds
// one row per agent, its embedding under an HNSW index of cosine distance,
// beside the attributes searches filter on. Migration 0013 says why the
// table is made here rather than by a migration.

// MaxVectorDimension is the most dimensions a pgvector index takes: HNSW
// indexes half-precision vectors of up to 4000 dimensions. Vectors of more
// than maxFullDimension are stored whole and indexed, and searched
// approximately, at half precision; exact searches use them whole.
const MaxVectorDimension = 4000

// maxFullDimension is the most dimensions HNSW indexes at full precision.
const maxFullDimension = 2000

// DefaultEfSearch is the size of the candidate list an approximate search
// keeps (hnsw.ef_search), at least the number of rows the search asks
// for. pgvector's default, 40, finds too few of the true nearest when
// vectors cluster tightly and the query falls between clusters (recall@10
// 0.66 on vectortest's recall set, 0.84 at 200); on topic-clustered
// embeddings 40 already reaches 0.996 at a third of the latency of 400
// (docs/pgvector.md). Recall comes first here: SetEfSearch trades it.
const DefaultEfSearch = 400

// vectorLockKey is the advisory lock that serializes creating the
// extension and re-creating agent_vectors.
const vectorLockKey int64 = 0x6f7373615f766563 // "ossa_vec"

// upsertBatch is how many documents one INSERT writes.
const upsertBatch = 500

// tieSlack is how many rows past the limit an approximate search takes
// from the index, so that documents tied with the last one at the limit
// are ordered by ID rather than by the index's order.
const tieSlack = 10

// VectorIndex is a platform.VectorIndex on pgvector, in the store's schema.
// OpenVectorIndex returns it.
type VectorIndex struct {
	db    *DB
	model string
	dim   int
	// ext is the schema the extension lives in, quoted: its types and
	// operators are qualified with it, so that they resolve whatever the
	// store's search_path.
	ext string
	// key is the expression the HNSW index is on, which approximate
	// searches order by; keyType the type the query vector is cast to for
	// it. Both are the embedding itself up to 2000 dimensions, and its
	// half-precision copy above.
	key, keyType string
	efSearch     int
}

var _ platform.VectorIndex = (*VectorIndex)(nil)

// VectorAvailable reports whether OpenVectorIndex can work: the vector
// extension is created in the database, or the server has it and the
// store's role may create it, which VectorAvailable then does. It is how
// the gateway's "auto" choice of index decides.
func (db *DB) VectorAvailable(ctx context.Context) (bool, error) {
	_, ok, err := db.vectorExtension(ctx)
	return ok, err
}

// vectorExtension returns the quoted schema of the vector extension,
// creating the extension first when the server has it and the role may
// (superusers, and owners of the database once an administrator marks it
// trusted). ok is false when the extension cannot be had.
func (db *DB) vectorExtension(ctx context.Context) (schema string, ok bool, err error) {
	find := func(q interface {
		QueryRow(context.Context, string, ...any) pgx.Row
	}) (string, error) {
		var s string
		err := q.QueryRow(ctx, `SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
			WHERE e.extname = 'vector'`).Scan(&s)
		if errors.Is(err, pgx.ErrNoRows) {
			return "", nil
		}
		return s, err
	}
	s, err := find(db.pool)
	if err != nil {
		return "", false, fmt.Errorf("postgres: find the vector extension: %w", err)
	}
	if s != "" {
		return pgx.Identifier{s}.Sanitize(), true, nil
	}
	var available bool
	if err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')`).
		Scan(&available); err != nil {
		return "", false, fmt.Errorf("postgres: find the vector extension: %w", err)
	}
	if !available {
		return "", false, nil
	}
	// Replicas starting together would race to create it.
	err = db.withTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, vectorLockKey); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS vector`); err != nil {
			return err
		}
		s, err = find(tx)
		return err
	})
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42501" { // insufficient_privilege
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("postgres: create the vector extension: %w", err)
	}
	return pgx.Identifier{s}.Sanitize(), s != "", nil
}

// OpenVectorIndex returns the pgvector index of vectors of dim dimensions
// made by model, creating the vector extension when the role may and
// agent_vectors with its HNSW index when they do not exist. An index that
// holds another model's vectors, or vectors of another dimension, is
// dropped and made anew, empty: the discovery indexer then re-indexes every
// agent. Replicas sharing a database must therefore run one embedder.
// Without the extension it is EUNAVAILABLE.
func (db *DB) OpenVectorIndex(ctx context.Context, model string, dim int) (*VectorIndex, error) {
	if model == "" || dim < 1 || dim > MaxVectorDimension {
		return nil, platform.Errorf(platform.EINVALID,
			"a pgvector index needs a model and a dimension from 1 to %d, not %q and %d", MaxVectorDimension, model, dim)
	}
	ext, ok, err := db.vectorExtension(ctx)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, platform.Errorf(platform.EUNAVAILABLE,
			"the PostgreSQL vector extension (pgvector) is not available to this database: install it, "+
				"or have a superuser run CREATE EXTENSION vector in it")
	}
	x := &VectorIndex{db: db, model: model, dim: dim, ext: ext, efSearch: DefaultEfSearch,
		key: "embedding", keyType: ext + ".vector(" + strconv.Itoa(dim) + ")"}
	opclass := ext + ".vector_cosine_ops"
	if dim > maxFullDimension {
		x.keyType = ext + ".halfvec(" + strconv.Itoa(dim) + ")"
		x.key = "(embedding::" + x.keyType + ")"
		opclass = ext + ".halfvec_cosine_ops"
	}
	err = db.withTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, vectorLockKey); err != nil {
			return err
		}
		var haveModel string
		var haveDim int
		err := tx.QueryRow(ctx, `SELECT model, dimension FROM agent_vector_meta`).Scan(&haveModel, &haveDim)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if haveModel != model || haveDim != dim {
			if _, err := tx.Exec(ctx, `DROP TABLE IF EXISTS agent_vectors`); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO agent_vector_meta (model, dimension) VALUES ($1, $2)
				ON CONFLICT (singleton) DO UPDATE SET model = excluded.model, dimension = excluded.dimension,
				created_at = now()`, model, dim); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS agent_vectors (
			id           text PRIMARY KEY,
			namespace    text NOT NULL,
			type         text NOT NULL,
			status       text NOT NULL,
			capabilities text[] NOT NULL,
			labels       jsonb NOT NULL,
			embedding    `+ext+`.vector(`+strconv.Itoa(dim)+`) NOT NULL)`); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `CREATE INDEX IF NOT EXISTS agent_vectors_embedding ON agent_vectors
			USING hnsw (`+x.key+` `+opclass+`)`)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: open the vector index: %w", err)
	}
	return x, nil
}

// Dimension is the length of the index's vectors.
func (x *VectorIndex) Dimension() int { return x.dim }

// Model is the embedder's model whose vectors the index holds.
func (x *VectorIndex) Model() string { return x.model }

// Backend returns "pgvector".
func (x *VectorIndex) Backend() string { return "pgvector" }

// SetEfSearch sets the candidate list of approximate searches
// (hnsw.ef_search, 1 to 1000; DefaultEfSearch until set): larger finds
// more of the true nearest at more cost. Call it before searching.
func (x *VectorIndex) SetEfSearch(n int) { x.efSearch = min(max(n, 1), 1000) }

// Upsert stores docs in one transaction, replacing those with the same
// IDs; of one ID given twice, the last is kept.
func (x *VectorIndex) Upsert(ctx context.Context, docs ...platform.VectorDoc) error {
	if err := platform.CheckVectorDocs(x.dim, docs); err != nil {
		return err
	}
	var p platform.Problems
	for i, d := range docs {
		if slices.ContainsFunc(d.Vector, func(f float32) bool { return math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) }) {
			p.Add("docs/"+strconv.Itoa(i)+"/vector", "has a value that is not a finite number")
		}
	}
	if err := p.Err("the documents cannot be indexed"); err != nil {
		return err
	}
	// ON CONFLICT cannot change one row twice in a statement.
	last := make(map[string]int, len(docs))
	for i, d := range docs {
		last[d.ID] = i
	}
	unique := make([]platform.VectorDoc, 0, len(last))
	for i, d := range docs {
		if last[d.ID] == i {
			unique = append(unique, d)
		}
	}
	sql := `INSERT INTO agent_vectors (id, namespace, type, status, capabilities, labels, embedding)
		SELECT id, ns, t, s, ARRAY(SELECT jsonb_array_elements_text(caps::jsonb)), l::jsonb, e::` + x.ext + `.vector(` + strconv.Itoa(x.dim) + `)
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) AS u(id, ns, t, s, caps, l, e)
		ON CONFLICT (id) DO UPDATE SET namespace = excluded.namespace, type = excluded.type, status = excluded.status,
			capabilities = excluded.capabilities, labels = excluded.labels, embedding = excluded.embedding`
	err := x.db.withTx(ctx, func(tx pgx.Tx) error {
		for start := 0; start < len(unique); start += upsertBatch {
			batch := unique[start:min(start+upsertBatch, len(unique))]
			cols := make([][]string, 7)
			for i := range cols {
				cols[i] = make([]string, len(batch))
			}
			for i, d := range batch {
				cj, lj := sqlstore.AttributesJSON(d.Capabilities, d.Labels)
				cols[0][i], cols[1][i], cols[2][i], cols[3][i] = d.ID, d.Namespace, string(d.Type), string(d.Status)
				cols[4][i], cols[5][i], cols[6][i] = cj, lj, formatVector(d.Vector)
			}
			if _, err := tx.Exec(ctx, sql, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: upsert vectors: %w", err)
	}
	return nil
}

// Delete removes the documents with these IDs.
func (x *VectorIndex) Delete(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := x.db.pool.Exec(ctx, `DELETE FROM agent_vectors WHERE id = ANY($1)`, ids); err != nil {
		return fmt.Errorf("postgres: delete vectors: %w", err)
	}
	return nil
}

// Count is how many documents the index holds.
func (x *VectorIndex) Count(ctx context.Context) (int, error) {
	var n int
	if err := x.db.pool.QueryRow(ctx, `SELECT count(*) FROM agent_vectors`).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count vectors: %w", err)
	}
	return n, nil
}

// Search returns the documents nearest q.Vector by cosine distance that
// match q's filters, which the database applies. An approximate search
// walks the HNSW index with pgvector's iterative scan, which goes on past
// hnsw.ef_search candidates until enough pass the filters; q.Exact turns
// index scans off, so the database compares q with every document.
func (x *VectorIndex) Search(ctx context.Context, q platform.VectorQuery) ([]platform.VectorHit, error) {
	if err := q.Validate(x.dim); err != nil {
		return nil, err
	}
	hits := []platform.VectorHit{}
	if len(q.Namespaces) == 0 {
		return hits, nil
	}
	sql, args, settings := x.searchSQL(q)
	err := pgx.BeginTxFunc(ctx, x.db.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, settings); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		var h platform.VectorHit
		var distance float64
		_, err = pgx.ForEachRow(rows, []any{&h.ID, &h.Namespace, &distance}, func() error {
			h.Score = float32(1 - distance)
			if math.IsNaN(distance) { // a zero vector, whose cosine is 0
				h.Score = 0
			}
			hits = append(hits, h)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: search vectors: %w", err)
	}
	return hits, nil
}

// searchSQL returns the query of a search, its arguments, and the
// statement that sets the transaction's planner settings for it.
func (x *VectorIndex) searchSQL(q platform.VectorQuery) (sql string, args []any, settings string) {
	args = []any{formatVector(q.Vector)}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	var where []string
	if !slices.Contains(q.Namespaces, platform.AllNamespaces) {
		where = append(where, "namespace = ANY("+arg(q.Namespaces)+")")
	}
	where = append(where, attributeFilter(arg, q.Type, q.Status, q.Capability, q.Labels)...)
	filter := ""
	if len(where) > 0 {
		filter = " WHERE " + strings.Join(where, " AND ")
	}
	op := " OPERATOR(" + x.ext + ".<=>) "
	if q.Exact {
		dist := "embedding" + op + "$1::" + x.ext + ".vector(" + strconv.Itoa(x.dim) + ")"
		sql = `SELECT id, namespace, ` + dist + ` AS distance FROM agent_vectors` + filter +
			` ORDER BY distance, id LIMIT ` + arg(q.Limit)
		return sql, args, `SET LOCAL enable_indexscan = off`
	}
	// The index yields rows nearest first (nearly, in relaxed order), so
	// the outer query orders the few it took, and breaks ties by ID.
	dist := x.key + op + "$1::" + x.keyType
	take := q.Limit + tieSlack
	sql = `WITH nearest AS MATERIALIZED (SELECT id, namespace, ` + dist + ` AS distance FROM agent_vectors` + filter +
		` ORDER BY ` + dist + ` LIMIT ` + arg(take) + `) SELECT id, namespace, distance FROM nearest ORDER BY distance, id LIMIT ` + arg(q.Limit)
	ef := min(max(x.efSearch, take), 1000)
	settings = `SELECT set_config('hnsw.ef_search', '` + strconv.Itoa(ef) + `', true),
		set_config('hnsw.iterative_scan', 'relaxed_order', true)`
	return sql, args, settings
}

// formatVector writes v in pgvector's text form, [1,2,3], each float32 in
// the fewest digits that read back as it.
func formatVector(v []float32) string {
	b := make([]byte, 0, len(v)*10+2)
	b = append(b, '[')
	for i, f := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, float64(f), 'g', -1, 32)
	}
	return string(append(b, ']'))
}
