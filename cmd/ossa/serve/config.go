package serve

import (
	"flag"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/joho/godotenv"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/invoke"
	"github.com/ossa-platform/platform/oidc"
	"github.com/ossa-platform/platform/redis"
	"github.com/ossa-platform/platform/secrets"
)

// Config is the platform's configuration: the settings of the gateway and
// of every other service. Every field comes from a flag, an environment
// variable or a .env file, in that order of precedence; the names are the
// developer guide's where it has one. Each field's comment gives its
// variable and default.
type Config struct {
	// Port is SERVICE_PORT: the gateway's port. Default 3100; 0 picks a free one.
	Port int
	// Host is OSSA_HOST: the address to listen on. Default "localhost": the
	// loopback addresses 127.0.0.1 and ::1 only; 0.0.0.0 or :: listen on
	// every interface.
	Host string
	// Auth is OSSA_AUTH: "keys" (every route but /healthz and /readyz
	// needs an API key, or an OpenID Connect token when an issuer is
	// configured; the first start makes an admin key) or "none" (anyone
	// who can reach the gateway may do anything: only on loopback, unless
	// AuthNoneExpose). Default "keys".
	Auth string
	// AuthNoneExpose is OSSA_AUTH_NONE_EXPOSE: with OSSA_AUTH=none, listen
	// beyond loopback all the same, the second time of telling. Default false.
	AuthNoneExpose bool
	// DataDir is OSSA_DATA_DIR: where the embedded database lives. Default ./data.
	DataDir string
	// PostgresURL is POSTGRES_URL. Default "": state in embedded SQLite.
	PostgresURL string
	// PostgresMaxConns is POSTGRES_MAX_CONNS: the pool's size. Default 20.
	PostgresMaxConns int
	// PostgresIdleTimeout is POSTGRES_IDLE_TIMEOUT: idle connections close after it. Default 30s.
	PostgresIdleTimeout time.Duration
	// PostgresConnectTimeout is POSTGRES_CONNECT_TIMEOUT. Default 2s.
	PostgresConnectTimeout time.Duration
	// RedisURL is REDIS_URL. Default "": no Redis.
	RedisURL string
	// QdrantURL is QDRANT_URL: a Qdrant server, the vector index of agent
	// discovery when VectorIndex is auto or qdrant. Default "": none.
	QdrantURL string
	// QdrantAPIKey is QDRANT_API_KEY, sent to Qdrant. Default none.
	QdrantAPIKey Secret
	// VectorIndex is OSSA_VECTOR_INDEX: where agent discovery keeps the
	// agents' embeddings: auto (Qdrant with QDRANT_URL, else pgvector
	// when PostgreSQL has it, else embedded), embedded (in the SQLite
	// database, or in memory beside PostgreSQL), pgvector, qdrant, or none
	// (full-text search alone). Default auto.
	VectorIndex string
	// EmbeddingsURL is OSSA_EMBEDDINGS_URL: an OpenAI-compatible
	// /v1/embeddings endpoint (Ollama, vLLM, llama.cpp, OpenAI). Default
	// "": the embedded lexical embedder, which needs no model.
	EmbeddingsURL string
	// EmbeddingsDimension is OSSA_EMBEDDINGS_DIMENSION, the length of
	// that model's vectors. Default 0: asked of the endpoint at start.
	EmbeddingsDimension int
	// EmbeddingsTimeout is OSSA_EMBEDDINGS_TIMEOUT, the bound of one
	// request to that endpoint. Default 30s.
	EmbeddingsTimeout time.Duration
	// EmbeddingsModel is OSSA_EMBEDDINGS_MODEL, the model that endpoint
	// runs; required with it.
	EmbeddingsModel string
	// DiscoveryRetry is OSSA_DISCOVERY_RETRY: how often discovery checks
	// that its vector index holds every agent, re-indexing when it does
	// not or when the embedder failed. Default 30s.
	DiscoveryRetry time.Duration
	// EmbeddingsAPIKey is OSSA_EMBEDDINGS_API_KEY, sent to that endpoint
	// as a bearer token. Default none.
	EmbeddingsAPIKey Secret
	// LogLevel is LOG_LEVEL: debug, info, warn or error. Default info.
	LogLevel string
	// CORSOrigins is CORS_ORIGIN: comma-separated origins that may call from
	// a browser, or "*". Default "": none.
	CORSOrigins []string
	// RateLimit is API_RATE_LIMIT: requests per minute per API key or
	// token, or per client address for anonymous requests and failed
	// authentications; with REDIS_URL shared by every replica (each
	// counts its own while Redis fails). 0 turns limiting off. Default 1000.
	RateLimit int
	// TLSCert and TLSKey are OSSA_TLS_CERT and OSSA_TLS_KEY: PEM files of
	// the certificate (with its chain) and its private key; set, the
	// gateway serves HTTPS (TLS 1.2 or later) and takes up renewed files
	// within a second. Both or neither. Default "": plain HTTP.
	TLSCert, TLSKey string
	// HSTS is OSSA_HSTS: whether answers carry Strict-Transport-Security:
	// "auto" when the gateway serves TLS itself, "on" always (behind a
	// proxy that terminates TLS), "off" never. Default auto.
	HSTS string
	// TrustedProxies is OSSA_TRUSTED_PROXIES: comma-separated CIDRs of the
	// proxies whose X-Real-IP and X-Forwarded-For are believed. Default "": none.
	TrustedProxies []netip.Prefix
	// MaxBodyBytes is OSSA_MAX_BODY_BYTES: the largest request body. Default 1048576 (1 MiB).
	MaxBodyBytes int64
	// ShutdownTimeout is OSSA_SHUTDOWN_TIMEOUT: how long SIGTERM waits for
	// requests in flight. Default 30s.
	ShutdownTimeout time.Duration
	// RunWorkers is OSSA_RUN_WORKERS: runs one gateway executes at once. Default 100.
	RunWorkers int
	// RunLeaseTTL is OSSA_RUN_LEASE_TTL: how long a run stays owned by a
	// gateway that stopped renewing it, i.e. how soon a crashed gateway's
	// runs resume elsewhere. Default 15s.
	RunLeaseTTL time.Duration
	// RunRetention is OSSA_RUN_RETENTION: how long finished runs (and
	// their steps) are kept before the leader deletes them; 0 keeps them
	// forever. Default 720h (30 days).
	RunRetention time.Duration
	// AuditRetention is OSSA_AUDIT_RETENTION: how long audit records are
	// kept before the leader deletes them; 0 keeps them forever. Default
	// 2160h (90 days).
	AuditRetention time.Duration
	// StepTimeout is OSSA_STEP_TIMEOUT: the limit of one agent call when a
	// step sets no timeout_seconds, and of a direct execute. Default 60s.
	StepTimeout time.Duration
	// AgentMaxResponseBytes is OSSA_AGENT_MAX_RESPONSE_BYTES: the largest
	// answer accepted from an agent. Default 10485760 (10 MiB).
	AgentMaxResponseBytes int64
	// AgentNetworks is OSSA_AGENT_NETWORKS: the networks agents may be
	// called at, a comma-separated list of CIDRs and the words loopback,
	// private and public (see invoke.NetworkPolicy). Link-local and cloud
	// metadata addresses are refused whatever it says. Default
	// "loopback,private,public"; a production gateway lists its agents'
	// networks, such as the cluster's pod CIDR (docs/security-ssrf.md).
	AgentNetworks invoke.NetworkPolicy
	// SecretKey is OSSA_SECRET_KEY: the key (32 bytes in base64) the
	// secrets agents authenticate with are encrypted under. Default none:
	// with the embedded database, a key generated into the data directory
	// (SecretKeyFile); with PostgreSQL, no secrets.
	SecretKey SecretKey
	// SecretKeysPrevious is OSSA_SECRET_KEY_PREVIOUS: comma-separated keys
	// that still decrypt the secrets encrypted before a rotation, until
	// `ossa secrets rotate` has re-encrypted them. Default none.
	SecretKeysPrevious []SecretKey
	// AgentHealthInterval is OSSA_AGENT_HEALTH_INTERVAL: how often agents'
	// health endpoints are probed; 0 turns probing off. Default 15s.
	AgentHealthInterval time.Duration
	// EventRetention is OSSA_EVENT_RETENTION: how long events are kept
	// for clients to replay. Default 24h.
	EventRetention time.Duration
	// EventPollInterval is OSSA_EVENT_POLL_INTERVAL: how often a replica
	// looks in the database for events no notification announced (while
	// Redis is down, or without Redis, another replica's). Default 1s.
	EventPollInterval time.Duration
	// EventBuffer is OSSA_EVENT_BUFFER: how many events a WebSocket or SSE
	// client may fall behind by before it is disconnected (rounded up to a power of two). Default 4096.
	EventBuffer int
	// EventCoalesce is OSSA_EVENT_COALESCE: how long a live client's
	// connection, once written to, gathers further events before the next
	// write, so that under load each write carries a batch (the clients'
	// writes are spread over the period in phases). Default 20ms.
	EventCoalesce time.Duration
	// RedisPrefix is OSSA_REDIS_PREFIX: what every Redis name the platform
	// uses starts with; the replicas share events on the pub/sub channel
	// prefix + "events". Deployments sharing one Redis database each need
	// their own. Default "": "ossa:<db>:" for the database of REDIS_URL.
	RedisPrefix string

	// OIDCIssuer is OSSA_OIDC_ISSUER: the OpenID Connect issuer whose
	// bearer tokens the gateway accepts besides API keys, exactly as its
	// tokens' iss claim names it; set with OIDCAudience. An https:// URL
	// (http:// on loopback only). Default "": no tokens but API keys.
	OIDCIssuer string
	// OIDCAudience is OSSA_OIDC_AUDIENCE: what the tokens' aud claim must
	// hold, the gateway's API identifier or client ID at the issuer;
	// required with OIDCIssuer. Default "".
	OIDCAudience string
	// OIDCAlgorithms is OSSA_OIDC_ALGORITHMS: comma-separated signature
	// algorithms accepted; never none or HS*. Default RS256,ES256.
	OIDCAlgorithms []string
	// OIDCNamespaceClaim is OSSA_OIDC_NAMESPACE_CLAIM: the claim naming
	// the namespace a token acts in (a string, or an array whose first
	// valid value is it). Default ossa_namespace.
	OIDCNamespaceClaim string
	// OIDCNamespacesClaim is OSSA_OIDC_NAMESPACES_CLAIM: a claim naming
	// further namespaces the token sees ("groups"). Default "": its own only.
	OIDCNamespacesClaim string
	// OIDCNamespacePrefix is OSSA_OIDC_NAMESPACE_PREFIX: what a value of
	// the namespace claims must start with to name a namespace, cut from
	// it. Default "".
	OIDCNamespacePrefix string
	// OIDCScopesClaim is OSSA_OIDC_SCOPES_CLAIM: the claim holding the
	// token's scopes, space-separated or an array. Default scope.
	OIDCScopesClaim string
	// OIDCDefaultScopes is OSSA_OIDC_DEFAULT_SCOPES: scopes every accepted
	// token holds besides its own. Default "": none.
	OIDCDefaultScopes []platform.Scope
}

// setting ties one Config field to its variable, flag and default.
type setting struct {
	env, flag, def, usage string
	set                   func(c *Config, v string) error
}

// settings is the single list of what can be configured; `ossa serve -h`
// and docs/configuration.md are written from it.
var settings = []setting{
	{"SERVICE_PORT", "port", "3100", "port to listen on (0: any free port)", func(c *Config, v string) (err error) {
		c.Port, err = intIn(v, 0, 65535)
		return err
	}},
	{"OSSA_HOST", "host", "localhost", "address to listen on: localhost is 127.0.0.1 and ::1; 0.0.0.0 or :: is every interface", func(c *Config, v string) error { c.Host = v; return nil }},
	{"OSSA_AUTH", "auth", "keys", "keys: every route but /healthz and /readyz needs an API key (or an OpenID Connect token), and the first start makes an admin key in the data directory; none: no authentication, on loopback only", func(c *Config, v string) error {
		switch v {
		case "keys", "none":
			c.Auth = v
			return nil
		}
		return fmt.Errorf("must be keys or none")
	}},
	{"OSSA_AUTH_NONE_EXPOSE", "auth-none-expose", "false", "with OSSA_AUTH=none, listen beyond loopback anyway (anyone who reaches the gateway may then do anything)", func(c *Config, v string) (err error) {
		c.AuthNoneExpose, err = strconv.ParseBool(v)
		if err != nil {
			err = fmt.Errorf("must be true or false")
		}
		return err
	}},
	{"OSSA_DATA_DIR", "data-dir", "./data", "directory of the embedded database", func(c *Config, v string) error {
		if v == "" {
			return fmt.Errorf("must not be empty")
		}
		c.DataDir = v
		return nil
	}},
	{"POSTGRES_URL", "postgres-url", "", "PostgreSQL URL (empty: embedded SQLite in the data directory)", func(c *Config, v string) error {
		if v != "" {
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
				return fmt.Errorf("must be a postgres:// or postgresql:// URL")
			}
		}
		c.PostgresURL = v
		return nil
	}},
	{"POSTGRES_MAX_CONNS", "postgres-max-conns", "20", "PostgreSQL pool size", func(c *Config, v string) (err error) {
		c.PostgresMaxConns, err = intIn(v, 1, 10000)
		return err
	}},
	{"POSTGRES_IDLE_TIMEOUT", "postgres-idle-timeout", "30s", "close pooled connections idle this long", func(c *Config, v string) (err error) {
		c.PostgresIdleTimeout, err = positiveDuration(v)
		return err
	}},
	{"POSTGRES_CONNECT_TIMEOUT", "postgres-connect-timeout", "2s", "give up connecting to PostgreSQL after this long", func(c *Config, v string) (err error) {
		c.PostgresConnectTimeout, err = positiveDuration(v)
		return err
	}},
	{"REDIS_URL", "redis-url", "", "Redis URL (empty: no Redis)", func(c *Config, v string) error {
		if v != "" {
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix") {
				return fmt.Errorf("must be a redis://, rediss:// or unix:// URL")
			}
		}
		c.RedisURL = v
		return nil
	}},
	{"OSSA_REDIS_PREFIX", "redis-prefix", "", "prefix of every Redis key and channel, one per deployment; the event channel is the prefix followed by events (empty: ossa:N: for database N of REDIS_URL)", func(c *Config, v string) error {
		if v != "" {
			if err := redis.CheckPrefix(v); err != nil {
				return err
			}
		}
		c.RedisPrefix = v
		return nil
	}},
	{"QDRANT_URL", "qdrant-url", "", "Qdrant URL of the vector index (empty: none)", func(c *Config, v string) error {
		if v != "" {
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fmt.Errorf("must be an http:// or https:// URL")
			}
		}
		c.QdrantURL = strings.TrimRight(v, "/")
		return nil
	}},
	{"QDRANT_API_KEY", "qdrant-api-key", "", "API key sent to Qdrant (empty: none)", func(c *Config, v string) error {
		c.QdrantAPIKey = Secret(v)
		return nil
	}},
	{"OSSA_VECTOR_INDEX", "vector-index", "auto", "where discovery keeps agents' embeddings: auto (Qdrant with QDRANT_URL, else pgvector when PostgreSQL has it, else embedded), embedded, pgvector, qdrant, or none (full-text search alone)", func(c *Config, v string) error {
		switch v {
		case "auto", "embedded", "pgvector", "qdrant", "none":
			c.VectorIndex = v
			return nil
		}
		return fmt.Errorf("must be auto, embedded, pgvector, qdrant or none")
	}},
	{"OSSA_EMBEDDINGS_URL", "embeddings-url", "", "OpenAI-compatible embeddings endpoint (Ollama, vLLM, llama.cpp, OpenAI) for discovery (empty: the embedded lexical embedder)", func(c *Config, v string) error {
		if v != "" {
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
				return fmt.Errorf("must be an http:// or https:// URL without credentials (give the key in OSSA_EMBEDDINGS_API_KEY)")
			}
		}
		c.EmbeddingsURL = strings.TrimRight(v, "/")
		return nil
	}},
	{"OSSA_EMBEDDINGS_MODEL", "embeddings-model", "", "the model OSSA_EMBEDDINGS_URL runs, such as nomic-embed-text (required with it)", func(c *Config, v string) error {
		c.EmbeddingsModel = v
		return nil
	}},
	{"OSSA_EMBEDDINGS_DIMENSION", "embeddings-dimension", "0", "the length of OSSA_EMBEDDINGS_MODEL's vectors (0: asked of the endpoint at start; set it so that a start while the endpoint is down still indexes agents once it answers)", func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 16384 {
			return fmt.Errorf("must be a number from 0 to 16384")
		}
		c.EmbeddingsDimension = n
		return nil
	}},
	{"OSSA_EMBEDDINGS_TIMEOUT", "embeddings-timeout", "30s", "how long one request to OSSA_EMBEDDINGS_URL may take (failed requests are tried twice more)", func(c *Config, v string) (err error) {
		c.EmbeddingsTimeout, err = positiveDuration(v)
		return err
	}},
	{"OSSA_EMBEDDINGS_API_KEY", "embeddings-api-key", "", "bearer token sent to OSSA_EMBEDDINGS_URL (empty: none)", func(c *Config, v string) error {
		c.EmbeddingsAPIKey = Secret(v)
		return nil
	}},
	{"OSSA_DISCOVERY_RETRY", "discovery-retry", "30s", "how often discovery checks its vector index holds every agent, re-indexing when not or after the embedder failed", func(c *Config, v string) (err error) {
		c.DiscoveryRetry, err = positiveDuration(v)
		return err
	}},
	{"LOG_LEVEL", "log-level", "info", "debug, info, warn or error", func(c *Config, v string) error {
		switch strings.ToLower(v) {
		case "debug", "info", "warn", "error":
			c.LogLevel = strings.ToLower(v)
			return nil
		}
		return fmt.Errorf("must be debug, info, warn or error")
	}},
	{"CORS_ORIGIN", "cors-origin", "", "comma-separated origins allowed to call from a browser, or *", func(c *Config, v string) error {
		c.CORSOrigins = nil
		for _, o := range splitList(v) {
			if o != "*" {
				u, err := url.Parse(o)
				if err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") {
					return fmt.Errorf("%q is not an origin such as http://localhost:3000", o)
				}
				o = strings.TrimSuffix(o, "/")
			}
			c.CORSOrigins = append(c.CORSOrigins, o)
		}
		return nil
	}},
	{"API_RATE_LIMIT", "rate-limit", "1000", "requests per minute per API key or token, or per client address when anonymous or failing authentication; shared by the replicas through Redis when REDIS_URL is set (0: no limit)", func(c *Config, v string) (err error) {
		c.RateLimit, err = intIn(v, 0, 1_000_000_000)
		return err
	}},
	{"OSSA_TLS_CERT", "tls-cert", "", "PEM file of the TLS certificate and its chain: the gateway serves HTTPS (with OSSA_TLS_KEY; empty: plain HTTP)", func(c *Config, v string) error {
		c.TLSCert = v
		return nil
	}},
	{"OSSA_TLS_KEY", "tls-key", "", "PEM file of the TLS certificate's private key (with OSSA_TLS_CERT)", func(c *Config, v string) error {
		c.TLSKey = v
		return nil
	}},
	{"OSSA_HSTS", "hsts", "auto", "send Strict-Transport-Security: auto (when serving TLS), on (also behind a proxy that terminates TLS) or off", func(c *Config, v string) error {
		switch strings.ToLower(v) {
		case "auto", "on", "off":
			c.HSTS = strings.ToLower(v)
			return nil
		}
		return fmt.Errorf("must be auto, on or off")
	}},
	{"OSSA_TRUSTED_PROXIES", "trusted-proxies", "", "comma-separated CIDRs of proxies whose X-Real-IP and X-Forwarded-For are believed", func(c *Config, v string) error {
		c.TrustedProxies = nil
		for _, s := range splitList(v) {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8", s)
			}
			c.TrustedProxies = append(c.TrustedProxies, p)
		}
		return nil
	}},
	{"OSSA_MAX_BODY_BYTES", "max-body-bytes", "1048576", "largest request body in bytes", func(c *Config, v string) error {
		n, err := intIn(v, 1024, 1<<30)
		c.MaxBodyBytes = int64(n)
		return err
	}},
	{"OSSA_SHUTDOWN_TIMEOUT", "shutdown-timeout", "30s", "on SIGTERM, wait this long for requests in flight", func(c *Config, v string) (err error) {
		c.ShutdownTimeout, err = positiveDuration(v)
		return err
	}},
	{"OSSA_RUN_WORKERS", "run-workers", "100", "workflow runs this gateway executes at once", func(c *Config, v string) (err error) {
		c.RunWorkers, err = intIn(v, 1, 10_000)
		return err
	}},
	{"OSSA_RUN_LEASE_TTL", "run-lease-ttl", "15s", "a crashed gateway's runs resume elsewhere after this long", func(c *Config, v string) (err error) {
		c.RunLeaseTTL, err = positiveDuration(v)
		if err == nil && c.RunLeaseTTL < 300*time.Millisecond {
			err = fmt.Errorf("must be at least 300ms")
		}
		return err
	}},
	{"OSSA_RUN_RETENTION", "run-retention", "720h", "finished runs and their steps are deleted this long after they finished (0: kept forever)", func(c *Config, v string) (err error) {
		if v == "0" {
			c.RunRetention = 0
			return nil
		}
		c.RunRetention, err = positiveDuration(v)
		return err
	}},
	{"OSSA_AUDIT_RETENTION", "audit-retention", "2160h", "audit records are deleted this long after they were written (0: kept forever)", func(c *Config, v string) (err error) {
		if v == "0" {
			c.AuditRetention = 0
			return nil
		}
		c.AuditRetention, err = positiveDuration(v)
		return err
	}},
	{"OSSA_STEP_TIMEOUT", "step-timeout", "60s", "limit of one agent call when a step sets no timeout_seconds", func(c *Config, v string) (err error) {
		c.StepTimeout, err = positiveDuration(v)
		return err
	}},
	{"OSSA_AGENT_MAX_RESPONSE_BYTES", "agent-max-response-bytes", "10485760", "largest answer accepted from an agent, in bytes", func(c *Config, v string) error {
		n, err := intIn(v, 1024, 1<<31-1)
		c.AgentMaxResponseBytes = int64(n)
		return err
	}},
	{"OSSA_AGENT_NETWORKS", "agent-networks", invoke.DefaultAgentNetworks, "comma-separated CIDRs (and loopback, private, public) agents may be called at; link-local and metadata addresses are always refused", func(c *Config, v string) (err error) {
		c.AgentNetworks, err = invoke.ParseNetworkPolicy(v)
		return err
	}},
	{"OSSA_SECRET_KEY", "secret-key", "", "32 random bytes in base64 that agents' secrets are encrypted under (empty: a key generated into the data directory with the embedded database; no secrets with PostgreSQL)", func(c *Config, v string) error {
		c.SecretKey = nil
		if v == "" {
			return nil
		}
		k, err := secrets.ParseKey(v)
		c.SecretKey = k
		return err
	}},
	{"OSSA_SECRET_KEY_PREVIOUS", "secret-key-previous", "", "comma-separated keys that still decrypt secrets encrypted before a rotation", func(c *Config, v string) error {
		c.SecretKeysPrevious = nil
		for i, s := range splitList(v) {
			k, err := secrets.ParseKey(s)
			if err != nil {
				return fmt.Errorf("key %d %w", i+1, err)
			}
			c.SecretKeysPrevious = append(c.SecretKeysPrevious, k)
		}
		return nil
	}},
	{"OSSA_AGENT_HEALTH_INTERVAL", "agent-health-interval", "15s", "how often agents' health endpoints are probed (0: never)", func(c *Config, v string) (err error) {
		if v == "0" {
			c.AgentHealthInterval = 0
			return nil
		}
		c.AgentHealthInterval, err = positiveDuration(v)
		return err
	}},
	{"OSSA_EVENT_RETENTION", "event-retention", "24h", "how long events are kept for replay", func(c *Config, v string) (err error) {
		c.EventRetention, err = positiveDuration(v)
		return err
	}},
	{"OSSA_EVENT_POLL_INTERVAL", "event-poll-interval", "1s", "how often the database is checked for events no notification announced", func(c *Config, v string) (err error) {
		c.EventPollInterval, err = positiveDuration(v)
		return err
	}},
	{"OSSA_EVENT_COALESCE", "event-coalesce", "20ms", "how long a live client's connection gathers events between writes under load", func(c *Config, v string) (err error) {
		c.EventCoalesce, err = positiveDuration(v)
		return err
	}},
	{"OSSA_EVENT_BUFFER", "event-buffer", "4096", "events a live client may fall behind by before it is disconnected", func(c *Config, v string) (err error) {
		c.EventBuffer, err = intIn(v, 16, 1_000_000)
		return err
	}},
	{"OSSA_OIDC_ISSUER", "oidc-issuer", "", "OpenID Connect issuer whose bearer tokens are accepted besides API keys, exactly as in their iss claim; https:// (http:// on loopback only); set with OSSA_OIDC_AUDIENCE (empty: none)", func(c *Config, v string) error {
		if v != "" {
			if err := oidc.CheckIssuer(v); err != nil {
				return err
			}
		}
		c.OIDCIssuer = v
		return nil
	}},
	{"OSSA_OIDC_AUDIENCE", "oidc-audience", "", "what the tokens' aud claim must hold: the gateway's API identifier or client ID at the issuer; required with OSSA_OIDC_ISSUER", func(c *Config, v string) error { c.OIDCAudience = v; return nil }},
	{"OSSA_OIDC_ALGORITHMS", "oidc-algorithms", "RS256,ES256", "comma-separated token signature algorithms accepted (RS256, RS384, RS512, ES256, ES384, ES512, PS256, PS384, PS512, EdDSA; never none or HS*)", func(c *Config, v string) error {
		algs := splitList(v)
		if len(algs) == 0 {
			return fmt.Errorf("must name at least one algorithm")
		}
		if err := oidc.CheckAlgorithms(algs); err != nil {
			return err
		}
		c.OIDCAlgorithms = algs
		return nil
	}},
	{"OSSA_OIDC_NAMESPACE_CLAIM", "oidc-namespace-claim", oidc.DefaultNamespaceClaim, "token claim naming the namespace the caller acts in: a string, or an array whose first valid value it is", func(c *Config, v string) error {
		if v == "" {
			return fmt.Errorf("must name a claim")
		}
		c.OIDCNamespaceClaim = v
		return nil
	}},
	{"OSSA_OIDC_NAMESPACES_CLAIM", "oidc-namespaces-claim", "", "token claim naming further namespaces the caller sees, such as groups; a value * sees every one (empty: its own namespace only)", func(c *Config, v string) error { c.OIDCNamespacesClaim = v; return nil }},
	{"OSSA_OIDC_NAMESPACE_PREFIX", "oidc-namespace-prefix", "", "what a value of the namespace claims must start with to name a namespace, cut from it: my-org/ maps my-org/api to api", func(c *Config, v string) error { c.OIDCNamespacePrefix = v; return nil }},
	{"OSSA_OIDC_SCOPES_CLAIM", "oidc-scopes-claim", oidc.DefaultScopesClaim, "token claim holding the caller's scopes, space-separated (OAuth 2.0 scope) or an array (scp, permissions); values that are no scope of the platform are ignored", func(c *Config, v string) error {
		if v == "" {
			return fmt.Errorf("must name a claim")
		}
		c.OIDCScopesClaim = v
		return nil
	}},
	{"OSSA_OIDC_DEFAULT_SCOPES", "oidc-default-scopes", "", "comma-separated scopes every accepted token holds besides its own, for issuers whose tokens carry none (empty: none)", func(c *Config, v string) (err error) {
		c.OIDCDefaultScopes = nil
		if v != "" {
			c.OIDCDefaultScopes, err = platform.ParseScopes(v)
		}
		return err
	}},
}

// retired are the variables no longer read, with what to set instead of
// the value found: a start that finds one set stops, rather than let it
// silently mean nothing.
var retired = []struct {
	env     string
	instead func(v string) string
}{
	{"OSSA_EVENT_CHANNEL", func(v string) string {
		msg := "OSSA_REDIS_PREFIX replaced it: events go on the Redis channel <prefix>events"
		if p, ok := strings.CutSuffix(v, "events"); ok && redis.CheckPrefix(p) == nil {
			msg += fmt.Sprintf("; OSSA_REDIS_PREFIX=%s keeps the channel %s", p, v)
		}
		return msg
	}},
}

// LoadConfig builds the configuration from the defaults, the .env file
// (envFile; a missing file is fine unless it was named explicitly), the
// environment, and the flags in args, each overriding the one before. An
// invalid value is an error naming its variable.
func LoadConfig(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("ossa serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	envFile := fs.String("env-file", ".env", "file of KEY=value lines read before the environment")
	flags := make(map[string]*string, len(settings))
	for _, s := range settings {
		flags[s.flag] = fs.String(s.flag, "", fmt.Sprintf("%s (%s, default %q)", s.usage, s.env, s.def))
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: ossa serve [flags]\n\nRuns the gateway. Flags override environment variables, which override the .env file.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("ossa serve takes no arguments, got %q", fs.Args())
	}
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "env-file" })
	dotenv, err := godotenv.Read(*envFile)
	if err != nil && (explicit || !os.IsNotExist(err)) {
		return c, fmt.Errorf("read %s: %w", *envFile, err)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, r := range retired {
		v, source := getenv(r.env), "environment"
		if v == "" {
			v, source = dotenv[r.env], *envFile
		}
		if v != "" {
			return c, fmt.Errorf("%s=%q (from %s) is no longer read: %s", r.env, v, source, r.instead(v))
		}
	}
	for _, s := range settings {
		v, source := s.def, "default"
		if dv, ok := dotenv[s.env]; ok {
			v, source = dv, *envFile
		}
		if ev := getenv(s.env); ev != "" {
			v, source = ev, "environment"
		}
		if set[s.flag] {
			v, source = *flags[s.flag], "flag --"+s.flag
		}
		if err := s.set(&c, strings.TrimSpace(v)); err != nil {
			if sensitive[s.env] {
				return c, fmt.Errorf("invalid %s (from %s): %w", s.env, source, err)
			}
			return c, fmt.Errorf("invalid %s=%q (from %s): %w", s.env, v, source, err)
		}
	}
	if err := c.checkTLS(); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// sensitive are the settings whose values no message quotes: keys, and
// URLs that may hold a password.
var sensitive = map[string]bool{"OSSA_SECRET_KEY": true, "OSSA_SECRET_KEY_PREVIOUS": true, "POSTGRES_URL": true, "REDIS_URL": true}

// SecretKey is a key of OSSA_SECRET_KEY or OSSA_SECRET_KEY_PREVIOUS. It
// prints as "[redacted]", so that a Config printed whole does not show it.
type SecretKey []byte

// String returns "[redacted]".
func (SecretKey) String() string { return "[redacted]" }

// GoString returns "[redacted]".
func (SecretKey) GoString() string { return "[redacted]" }

// Secret is a setting that must not be shown: an API key.
type Secret string

// String returns "[redacted]", or "" when unset.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString returns String().
func (s Secret) GoString() string { return s.String() }

// SecretKeyFile is the file in the data directory that holds the key the
// embedded database's secrets are encrypted under when OSSA_SECRET_KEY is
// not set.
const SecretKeyFile = "secret-key"

// Validate reports what no single setting shows: settings that contradict
// each other, or a Config built by hand that misses what every start needs.
// The error names the variables.
func (c Config) Validate() error {
	if c.EmbeddingsURL != "" && c.EmbeddingsModel == "" {
		return fmt.Errorf("OSSA_EMBEDDINGS_URL is set without OSSA_EMBEDDINGS_MODEL: name the model the endpoint runs")
	}
	if c.VectorIndex == "qdrant" && c.QdrantURL == "" {
		return fmt.Errorf("OSSA_VECTOR_INDEX=qdrant needs QDRANT_URL")
	}
	if (c.OIDCIssuer == "") != (c.OIDCAudience == "") {
		return fmt.Errorf("OSSA_OIDC_ISSUER and OSSA_OIDC_AUDIENCE are set together or not at all: tokens are checked for both their issuer and their audience")
	}
	if c.OIDCIssuer != "" && c.OIDCNamespaceClaim == c.OIDCScopesClaim {
		return fmt.Errorf("OSSA_OIDC_NAMESPACE_CLAIM and OSSA_OIDC_SCOPES_CLAIM name the same claim %q", c.OIDCScopesClaim)
	}
	if c.AgentNetworks.String() == "" {
		return fmt.Errorf("OSSA_AGENT_NETWORKS names no network: set it, or leave it out for %q", invoke.DefaultAgentNetworks)
	}
	if len(c.SecretKeysPrevious) > 0 && len(c.SecretKey) == 0 {
		return fmt.Errorf("OSSA_SECRET_KEY_PREVIOUS is set but OSSA_SECRET_KEY is not: the previous keys only decrypt, a current one must encrypt")
	}
	return nil
}

// checkTLS says what is wrong with the TLS settings: a certificate needs
// its key and a key its certificate.
func (c *Config) checkTLS() error {
	switch {
	case c.TLSCert != "" && c.TLSKey == "":
		return fmt.Errorf("OSSA_TLS_CERT=%q is set without OSSA_TLS_KEY: set both to serve HTTPS, or neither", c.TLSCert)
	case c.TLSCert == "" && c.TLSKey != "":
		return fmt.Errorf("OSSA_TLS_KEY=%q is set without OSSA_TLS_CERT: set both to serve HTTPS, or neither", c.TLSKey)
	}
	return nil
}

// ConfigTable lists the settings as Markdown, for docs/configuration.md.
func ConfigTable() string {
	var b strings.Builder
	b.WriteString("| Variable | Flag | Default | Meaning |\n|---|---|---|---|\n")
	for _, s := range settings {
		def := "`" + s.def + "`"
		if s.def == "" {
			def = "(none)"
		}
		fmt.Fprintf(&b, "| `%s` | `--%s` | %s | %s |\n", s.env, s.flag, def, s.usage)
	}
	return b.String()
}

func intIn(v string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("must be a whole number from %d to %d", lo, hi)
	}
	return n, nil
}

func positiveDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("must be a positive duration such as 500ms, 30s or 2m")
	}
	return d, nil
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
