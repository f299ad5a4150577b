package invoke

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
)

// DefaultAgentNetworks is the network policy when OSSA_AGENT_NETWORKS sets
// none: agents on this machine, on private networks and on the internet
// may be called, so that local development works as it did. A production
// gateway names its own networks instead (docs/security-ssrf.md).
const DefaultAgentNetworks = "loopback,private,public"

// ResolveTimeout bounds the name resolution of CheckEndpoint.
const ResolveTimeout = 2 * time.Second

// NetworkPolicy says which IP addresses the gateway may call agents at.
// Some are refused whatever it says (AlwaysRefused: link-local and cloud
// metadata addresses, unspecified, multicast, broadcast and reserved
// ones). Of the others, an address is allowed when it is in one of the
// policy's networks, or when it is public (globally routable, in no
// special-purpose range) and the policy allows public addresses.
//
// IPv4 addresses in IPv6 forms (IPv4-mapped ::ffff:a.b.c.d, NAT64
// 64:ff9b::a.b.c.d) are judged as the IPv4 address they reach.
//
// Build one with ParseNetworkPolicy; the zero NetworkPolicy allows no
// address. A NetworkPolicy is immutable and safe for concurrent use. Its
// Guard method is the Client's Guard, which judges every address at dial
// time; CheckEndpoint judges an endpoint when an agent is registered.
type NetworkPolicy struct {
	networks []netip.Prefix
	public   bool
	spec     string
	lookup   func(ctx context.Context, host string) ([]netip.Addr, error)
}

// rangeOf is a special-purpose range and what it is, for messages.
type rangeOf struct {
	prefix netip.Prefix
	what   string
}

func ranges(what string, prefixes ...string) []rangeOf {
	out := make([]rangeOf, len(prefixes))
	for i, p := range prefixes {
		out[i] = rangeOf{netip.MustParsePrefix(p), what}
	}
	return out
}

// alwaysRefused are the addresses no policy allows: where cloud metadata
// services answer (169.254.169.254 and its kin give out credentials to
// whoever asks from the machine), and what is no one's address to call.
var alwaysRefused = slices.Concat(
	ranges("a cloud metadata service", "100.100.100.200/32", "168.63.129.16/32", "fd00:ec2::254/128", "fd20:ce::254/128"),
	ranges("a link-local address, where cloud metadata services answer", "169.254.0.0/16", "fe80::/10"),
	ranges("an unspecified address", "0.0.0.0/8", "::/128"),
	ranges("a multicast address", "224.0.0.0/4", "ff00::/8"),
	ranges("a reserved or broadcast address", "240.0.0.0/4"),
)

// AlwaysRefused lists the ranges no NetworkPolicy allows.
func AlwaysRefused() []netip.Prefix {
	out := make([]netip.Prefix, len(alwaysRefused))
	for i, r := range alwaysRefused {
		out[i] = r.prefix
	}
	return out
}

// The networks the keywords of a policy stand for.
var (
	loopbackNetworks = ranges("a loopback address", "127.0.0.0/8", "::1/128")
	privateNetworks  = slices.Concat(
		ranges("a private address", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"),
		ranges("a shared (carrier-grade NAT) address", "100.64.0.0/10"),
	)
	// special are the other ranges that are not public: allowed only when
	// the policy names them.
	special = slices.Concat(
		ranges("a special-purpose address", "192.0.0.0/24", "192.88.99.0/24", "198.18.0.0/15", "::/96", "100::/64",
			"2001::/32", "2002::/16", "64:ff9b:1::/48", "fec0::/10"),
		ranges("a documentation address", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"),
	)
	keywords = map[string][]rangeOf{"loopback": loopbackNetworks, "private": privateNetworks}
)

// nat64 is the well-known NAT64 prefix (RFC 6052), whose addresses reach
// the IPv4 address in their last 32 bits.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// ParseNetworkPolicy reads a policy: a comma-separated list of CIDRs
// (10.0.0.0/8, fd00::/8, or an address alone for a single host) and the
// keywords loopback (127.0.0.0/8, ::1), private (10.0.0.0/8, 172.16.0.0/12,
// 192.168.0.0/16, 100.64.0.0/10, fc00::/7) and public (every globally
// routable address). A network that lies wholly in an always-refused range
// is an error, since it could allow nothing.
func ParseNetworkPolicy(list string) (NetworkPolicy, error) {
	var p NetworkPolicy
	var parts []string
	for _, item := range strings.Split(list, ",") {
		item = strings.ToLower(strings.TrimSpace(item))
		if item == "" {
			continue
		}
		if item == "public" || keywords[item] != nil {
			if !slices.Contains(parts, item) {
				parts = append(parts, item)
				p.public = p.public || item == "public"
				for _, r := range keywords[item] {
					p.networks = append(p.networks, r.prefix)
				}
			}
			continue
		}
		prefix, err := parsePrefix(item)
		if err != nil {
			return NetworkPolicy{}, err
		}
		for _, r := range alwaysRefused {
			if r.prefix.Bits() <= prefix.Bits() && r.prefix.Contains(prefix.Addr()) {
				return NetworkPolicy{}, fmt.Errorf("%s is %s, which is always refused", item, r.what)
			}
		}
		name := prefix.String()
		if prefix.IsSingleIP() {
			name = prefix.Addr().String()
		}
		if !slices.Contains(parts, name) {
			parts = append(parts, name)
			p.networks = append(p.networks, prefix)
		}
	}
	if len(parts) == 0 {
		return NetworkPolicy{}, errors.New("names no network: list CIDRs such as 10.0.0.0/8, or loopback, private, public")
	}
	p.spec = strings.Join(parts, ",")
	return p, nil
}

// parsePrefix reads a CIDR, or an address alone as the network of that
// one address. IPv4-mapped forms are read as the IPv4 network.
func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		addr, err := netip.ParseAddr(s)
		if err != nil || addr.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8, nor loopback, private or public", s)
		}
		addr = addr.Unmap()
		return netip.PrefixFrom(addr, addr.BitLen()), nil
	}
	prefix, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8, nor loopback, private or public", s)
	}
	if prefix.Addr().Is4In6() && prefix.Bits() >= 96 {
		prefix = netip.PrefixFrom(prefix.Addr().Unmap(), prefix.Bits()-96)
	}
	return prefix.Masked(), nil
}

// String is the policy as ParseNetworkPolicy reads it, normalized.
func (p NetworkPolicy) String() string { return p.spec }

// AllowsPublic reports whether the policy allows public addresses.
func (p NetworkPolicy) AllowsPublic() bool { return p.public }

// Networks are the networks the policy allows besides public addresses.
func (p NetworkPolicy) Networks() []netip.Prefix { return slices.Clone(p.networks) }

// Allow returns nil when the policy allows calling addr, else why not.
func (p NetworkPolicy) Allow(addr netip.Addr) error {
	if !addr.IsValid() {
		return errors.New("no address")
	}
	addr = addr.WithZone("").Unmap()
	shown := addr.String()
	if nat64.Contains(addr) {
		b := addr.As16()
		addr = netip.AddrFrom4([4]byte(b[12:]))
		shown += " (NAT64 for " + addr.String() + ")"
	}
	for _, r := range alwaysRefused {
		if r.prefix.Contains(addr) {
			return fmt.Errorf("%s is %s, which the gateway never calls", shown, r.what)
		}
	}
	for _, n := range p.networks {
		if n.Contains(addr) {
			return nil
		}
	}
	what := "a public address"
	for _, r := range slices.Concat(loopbackNetworks, privateNetworks, special) {
		if r.prefix.Contains(addr) {
			what = r.what
			break
		}
	}
	if what == "a public address" && p.public {
		return nil
	}
	// The message does not quote the policy: it reaches the callers of the
	// API, who need not learn the networks behind the gateway.
	return fmt.Errorf("%s is %s, which the agent network policy (OSSA_AGENT_NETWORKS) does not allow", shown, what)
}

// Guard is the policy as a Client's Guard: it refuses to connect to an
// address the policy does not allow.
func (p NetworkPolicy) Guard(_ context.Context, _ string, addr netip.AddrPort) error {
	return p.Allow(addr.Addr())
}

// WithResolver returns a copy of p whose CheckEndpoint resolves names with
// lookup instead of the system's resolver: for tests, and for a gateway
// that resolves agents' names otherwise.
func (p NetworkPolicy) WithResolver(lookup func(ctx context.Context, host string) ([]netip.Addr, error)) NetworkPolicy {
	p.lookup = lookup
	return p
}

// CheckEndpoint judges the endpoint an agent is registered with: its host
// when it is an IP address, else what the host resolves to, within
// ResolveTimeout. It refuses an endpoint whose every address the policy
// refuses. A name that does not resolve, or not in time, is accepted: the
// policy judges every address again when a call connects (Guard), which
// also catches a name that resolves otherwise by then (DNS rebinding).
func (p NetworkPolicy) CheckEndpoint(ctx context.Context, endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		return fmt.Errorf("cannot be read: %w", err)
	}
	host := u.Hostname()
	if addr, err := netip.ParseAddr(host); err == nil {
		return p.Allow(addr)
	}
	ctx, cancel := context.WithTimeout(ctx, ResolveTimeout)
	defer cancel()
	lookup := p.lookup
	if lookup == nil {
		lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	addrs, err := lookup(ctx, host)
	if err != nil || len(addrs) == 0 {
		return nil //nolint:nilerr // not resolvable now: the call's dial decides
	}
	var refused error
	for _, addr := range addrs {
		err := p.Allow(addr)
		if err == nil {
			return nil
		}
		if refused == nil {
			refused = err
		}
	}
	if len(addrs) == 1 {
		return fmt.Errorf("%s resolves to %w", host, refused)
	}
	return fmt.Errorf("%s resolves only to addresses the gateway may not call, such as %w", host, refused)
}
