package invoke

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
)

// staticSecrets is a SecretSource of fixed values.
type staticSecrets map[string]string

func (s staticSecrets) Reveal(_ context.Context, _, name string) (string, error) {
	v, ok := s[name]
	if !ok {
		return "", platform.Errorf(platform.ENOTFOUND, "secret %q not found", name)
	}
	return v, nil
}

func asInvocationError(t *testing.T, err error) *platform.InvocationError {
	t.Helper()
	var ie *platform.InvocationError
	if !errors.As(err, &ie) {
		t.Fatalf("err = %T %v, want *platform.InvocationError", err, err)
	}
	return ie
}

func mustPolicy(t testing.TB, list string) NetworkPolicy {
	t.Helper()
	p, err := ParseNetworkPolicy(list)
	if err != nil {
		t.Fatalf("ParseNetworkPolicy(%q): %v", list, err)
	}
	return p
}

func TestParseNetworkPolicy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want, err string // want: the normalized policy; err: part of the error
	}{
		{in: DefaultAgentNetworks, want: "loopback,private,public"},
		{in: " LOOPBACK , ,Public,loopback", want: "loopback,public"},
		{in: "10.244.0.0/16", want: "10.244.0.0/16"},
		{in: "10.0.0.0/8,fd00::/8,public", want: "10.0.0.0/8,fd00::/8,public"},
		{in: "10.1.2.3", want: "10.1.2.3"},
		{in: "10.1.2.3/8,10.0.0.0/8,::ffff:10.0.0.0/104", want: "10.0.0.0/8"},
		{in: "0.0.0.0/0,::/0", want: "0.0.0.0/0,::/0"},
		{in: "", err: "names no network"},
		{in: " , ", err: "names no network"},
		{in: "10.0.0.0/33", err: `"10.0.0.0/33" is not a CIDR`},
		{in: "10.0.0", err: `"10.0.0" is not a CIDR`},
		{in: "internal", err: `"internal" is not a CIDR`},
		{in: "fe80::1%eth0", err: "is not a CIDR"},
		{in: "169.254.0.0/16", err: "169.254.0.0/16 is a link-local address, where cloud metadata services answer, which is always refused"},
		{in: "169.254.169.254", err: "always refused"},
		{in: "10.0.0.0/8,fe80::/64", err: "fe80::/64 is a link-local address"},
		{in: "fd00:ec2::254", err: "is a cloud metadata service"},
		{in: "224.0.0.0/8", err: "multicast"},
		{in: "0.0.0.0/8", err: "unspecified"},
	} {
		p, err := ParseNetworkPolicy(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseNetworkPolicy(%q) = %v, %v; want an error with %q", tc.in, p, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("ParseNetworkPolicy(%q): %v", tc.in, err)
		case tc.err == "" && p.String() != tc.want:
			t.Errorf("ParseNetworkPolicy(%q) = %q, want %q", tc.in, p, tc.want)
		}
	}
	// A CIDR is masked, and the IPv4-mapped form of one is its IPv4 form.
	for in, want := range map[string]string{"10.1.2.3/8": "10.0.0.0/8", "::ffff:10.0.0.0/104": "10.0.0.0/8", "::ffff:10.1.2.3": "10.1.2.3/32"} {
		if got := mustPolicy(t, in).Networks(); len(got) != 1 || got[0].String() != want {
			t.Errorf("networks of %q = %v, want %s", in, got, want)
		}
	}
}

func TestNetworkPolicyAllow(t *testing.T) {
	t.Parallel()
	const allowed = ""
	for _, tc := range []struct {
		policy, addr string
		refused      string // "" allowed, else part of the reason
	}{
		// Always refused, whatever the policy.
		{DefaultAgentNetworks, "169.254.169.254", "169.254.169.254 is a link-local address, where cloud metadata services answer, which the gateway never calls"},
		{"0.0.0.0/0,::/0", "169.254.169.254", "never calls"},
		{"0.0.0.0/0,::/0", "169.254.170.2", "link-local"},
		{DefaultAgentNetworks, "fe80::1", "link-local"},
		{DefaultAgentNetworks, "fe80::1%eth0", "link-local"},
		{"0.0.0.0/0,::/0", "fd00:ec2::254", "fd00:ec2::254 is a cloud metadata service"},
		{"0.0.0.0/0,::/0", "fd20:ce::254", "cloud metadata service"},
		{DefaultAgentNetworks, "100.100.100.200", "cloud metadata service"},
		{DefaultAgentNetworks, "168.63.129.16", "cloud metadata service"},
		{DefaultAgentNetworks, "0.0.0.0", "unspecified"},
		{DefaultAgentNetworks, "0.1.2.3", "unspecified"},
		{DefaultAgentNetworks, "::", "unspecified"},
		{DefaultAgentNetworks, "224.0.0.1", "multicast"},
		{DefaultAgentNetworks, "ff02::1", "multicast"},
		{DefaultAgentNetworks, "255.255.255.255", "broadcast"},
		{DefaultAgentNetworks, "240.0.0.1", "reserved"},
		// IPv4 in IPv6 forms are judged as the IPv4 address.
		{"0.0.0.0/0,::/0", "::ffff:169.254.169.254", "169.254.169.254 is a link-local"},
		{"0.0.0.0/0,::/0", "64:ff9b::a9fe:a9fe", "64:ff9b::a9fe:a9fe (NAT64 for 169.254.169.254) is a link-local"},
		{"public", "::ffff:127.0.0.1", "127.0.0.1 is a loopback address, which the agent network policy (OSSA_AGENT_NETWORKS) does not allow"},
		{"public", "64:ff9b::7f00:1", "(NAT64 for 127.0.0.1) is a loopback address"},
		{"public", "64:ff9b::808:808", allowed},
		{"loopback", "::ffff:127.0.0.1", allowed},
		// The default: loopback, private and public.
		{DefaultAgentNetworks, "127.0.0.1", allowed},
		{DefaultAgentNetworks, "127.1.2.3", allowed},
		{DefaultAgentNetworks, "::1", allowed},
		{DefaultAgentNetworks, "10.1.2.3", allowed},
		{DefaultAgentNetworks, "172.31.255.255", allowed},
		{DefaultAgentNetworks, "192.168.0.1", allowed},
		{DefaultAgentNetworks, "100.64.0.1", allowed},
		{DefaultAgentNetworks, "fd12:3456::1", allowed},
		{DefaultAgentNetworks, "8.8.8.8", allowed},
		{DefaultAgentNetworks, "2606:4700:4700::1111", allowed},
		// Special-purpose ranges are not public: only a network named allows them.
		{DefaultAgentNetworks, "192.0.2.10", "192.0.2.10 is a documentation address"},
		{DefaultAgentNetworks, "2001:db8::1", "documentation"},
		{DefaultAgentNetworks, "198.18.0.1", "special-purpose"},
		{DefaultAgentNetworks, "::a9fe:a9fe", "special-purpose"},
		{DefaultAgentNetworks, "2002:a9fe:a9fe::1", "special-purpose"},
		{"198.18.0.0/15", "198.18.0.1", allowed},
		{"0.0.0.0/0", "192.0.2.10", allowed},
		// A production policy: the pod network alone.
		{"10.244.0.0/16", "10.244.3.4", allowed},
		{"10.244.0.0/16", "10.96.0.1", "10.96.0.1 is a private address"},
		{"10.244.0.0/16", "127.0.0.1", "loopback"},
		{"10.244.0.0/16", "8.8.8.8", "8.8.8.8 is a public address"},
		{"10.244.0.0/16,public", "8.8.8.8", allowed},
		{"10.244.0.0/16,public", "192.168.1.1", "private"},
		{"private", "127.0.0.1", "loopback"},
		{"loopback", "10.0.0.1", "private"},
		{"loopback", "100.64.1.1", "shared (carrier-grade NAT)"},
	} {
		err := mustPolicy(t, tc.policy).Allow(netip.MustParseAddr(tc.addr))
		switch {
		case tc.refused == allowed && err != nil:
			t.Errorf("%s under %q: refused (%v), want allowed", tc.addr, tc.policy, err)
		case tc.refused != allowed && (err == nil || !strings.Contains(err.Error(), tc.refused)):
			t.Errorf("%s under %q: %v, want refused with %q", tc.addr, tc.policy, err, tc.refused)
		}
	}
	var zero NetworkPolicy
	if err := zero.Allow(netip.MustParseAddr("8.8.8.8")); err == nil {
		t.Error("the zero policy allows 8.8.8.8")
	}
	if err := zero.Allow(netip.Addr{}); err == nil {
		t.Error("the zero policy allows the invalid address")
	}
}

// staticResolver answers every name with addrs, or err.
func staticResolver(err error, addrs ...string) func(context.Context, string) ([]netip.Addr, error) {
	return func(context.Context, string) ([]netip.Addr, error) {
		out := make([]netip.Addr, len(addrs))
		for i, a := range addrs {
			out[i] = netip.MustParseAddr(a)
		}
		return out, err
	}
}

func TestCheckEndpoint(t *testing.T) {
	t.Parallel()
	def := mustPolicy(t, DefaultAgentNetworks)
	ctx := t.Context()
	for _, tc := range []struct {
		name     string
		policy   NetworkPolicy
		endpoint string
		refused  string
	}{
		{"metadata literal", def, "http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"},
		{"metadata IPv6 literal", def, "http://[fd00:ec2::254]/latest", "cloud metadata service"},
		{"mapped literal", def, "http://[::ffff:169.254.169.254]:80/", "169.254.169.254 is a link-local"},
		{"zoned literal", def, "http://[fe80::1%25eth0]:8080/", "link-local"},
		{"loopback allowed", def, "http://127.0.0.1:9001", ""},
		{"loopback refused", mustPolicy(t, "10.0.0.0/8"), "http://127.0.0.1:9001", "loopback"},
		{"name to metadata", def.WithResolver(staticResolver(nil, "169.254.169.254")), "http://metadata.internal/",
			"metadata.internal resolves to 169.254.169.254 is a link-local address"},
		{"name to refused only", mustPolicy(t, "public").WithResolver(staticResolver(nil, "127.0.0.1", "::1")), "http://localhost:8080",
			"localhost resolves only to addresses the gateway may not call, such as 127.0.0.1 is a loopback address"},
		{"name to one allowed", def.WithResolver(staticResolver(nil, "169.254.169.254", "8.8.8.8")), "https://mixed.example", ""},
		{"name that does not resolve", def.WithResolver(staticResolver(&net.DNSError{Err: "no such host", IsNotFound: true})), "http://later.example", ""},
		{"name with no address", def.WithResolver(staticResolver(nil)), "http://empty.example", ""},
	} {
		err := tc.policy.CheckEndpoint(ctx, tc.endpoint)
		switch {
		case tc.refused == "" && err != nil:
			t.Errorf("%s: %s refused: %v", tc.name, tc.endpoint, err)
		case tc.refused != "" && (err == nil || !strings.Contains(err.Error(), tc.refused)):
			t.Errorf("%s: %s: %v, want refused with %q", tc.name, tc.endpoint, err, tc.refused)
		}
	}

	// A resolver that does not answer in time leaves the decision to the dial.
	slow := def.WithResolver(func(ctx context.Context, _ string) ([]netip.Addr, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := slow.CheckEndpoint(short, "http://slow.example"); err != nil || time.Since(start) > ResolveTimeout {
		t.Errorf("slow resolver: %v after %v, want accepted within the deadline", err, time.Since(start))
	}

	// The system's resolver: localhost is loopback.
	if err := mustPolicy(t, "public").CheckEndpoint(ctx, "http://localhost:1/"); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("localhost under a public-only policy: %v, want refused as loopback", err)
	}
}

// The policy as the client's Guard: an agent on loopback is called when
// loopback is allowed, and refused, for good and without a connection,
// when it is not.
func TestNetworkPolicyGuardsCalls(t *testing.T) {
	t.Parallel()
	a, conns := countingAgent(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"output":1}`) })
	allow := New()
	allow.Guard = mustPolicy(t, "loopback").Guard
	if out, err := call(t, allow, a, 5*time.Second); err != nil || string(out) != "1" {
		t.Fatalf("allowed: %s, %v", out, err)
	}
	refuse := New()
	refuse.Guard = mustPolicy(t, "10.0.0.0/8,public").Guard
	_, err := call(t, refuse, a, 5*time.Second)
	ie := asInvocationError(t, err)
	addr := strings.TrimPrefix(a.Endpoint, "http://")
	want := "agent a was not called: the gateway may not connect to " + addr + ": 127.0.0.1 is a loopback address, which the agent network policy (OSSA_AGENT_NETWORKS) does not allow"
	if ie.Retryable || ie.Message != want {
		t.Errorf("refused: %+v\nwant permanent: %s", ie, want)
	}
	if err := refuse.Probe(t.Context(), a); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("probe: %v, want refused", err)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("the agent saw %d connections, want 1 (the allowed call's)", n)
	}
}

// DNS rebinding: a name that resolved to an allowed address when the agent
// was registered resolves to a refused one when it is called. The policy
// judges the address the dial resolved, so the call is refused and the
// agent never reached.
func TestNetworkPolicyRefusesRebindingAtDial(t *testing.T) {
	t.Parallel()
	a, conns := countingAgent(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"output":1}`) })
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(a.Endpoint, "http://"))
	a.Endpoint = "http://localhost:" + port
	// At registration the name resolved to a public address...
	policy := mustPolicy(t, "public").WithResolver(staticResolver(nil, "93.184.216.34"))
	if err := policy.CheckEndpoint(t.Context(), a.Endpoint); err != nil {
		t.Fatalf("registration: %v", err)
	}
	// ...and now, at the dial, to loopback.
	c := New()
	c.Guard = policy.Guard
	_, err := call(t, c, a, 5*time.Second)
	ie := asInvocationError(t, err)
	if ie.Retryable || !strings.Contains(ie.Message, "may not connect to") || !strings.Contains(ie.Message, "is a loopback address") {
		t.Errorf("call: %+v, want the dial refused as loopback", ie)
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("the agent saw %d connections, want none", n)
	}
}

// An agent that redirects elsewhere is not followed: not to a metadata
// address, not to an internal server the policy refuses, which sees no
// request, and the guard is never even asked about either.
func TestRedirectsAreNotFollowed(t *testing.T) {
	t.Parallel()
	var internalHits atomic.Int64
	internal := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		internalHits.Add(1)
		fmt.Fprint(w, `{"output":"internal"}`)
	}))
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2 for the internal server: %v", err)
	}
	internal.Listener = ln
	internal.Start()
	t.Cleanup(internal.Close)

	for _, target := range []string{"http://169.254.169.254/latest/meta-data/iam/security-credentials/", internal.URL + "/admin"} {
		for _, status := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
			a, _ := countingAgent(t, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, target, status)
			})
			a.Auth = &platform.AgentAuth{Header: "Authorization", Scheme: "Bearer", Secret: "token"}
			policy := mustPolicy(t, "127.0.0.1/32")
			g := &guardLog{refuse: func(addr netip.AddrPort) error { return policy.Allow(addr.Addr()) }}
			c := New()
			c.Guard = g.guard
			c.Secrets = staticSecrets{"token": "s3cr3t"}
			_, err := call(t, c, a, 5*time.Second)
			ie := asInvocationError(t, err)
			if ie.Retryable || ie.StatusCode != status || !strings.Contains(ie.Message, "which the gateway does not follow") {
				t.Errorf("%d to %s: %+v, want a permanent failure that says so", status, target, ie)
			}
			for _, addr := range g.addresses() {
				if addr.Addr() != netip.MustParseAddr("127.0.0.1") {
					t.Errorf("%d to %s: the guard was asked about %s", status, target, addr)
				}
			}
		}
	}
	if n := internalHits.Load(); n != 0 {
		t.Errorf("the internal server got %d requests, want none", n)
	}
}

// FuzzParseNetworkPolicy: any input is a policy or an error, never a
// panic; a policy reads back the same from its String; and no policy
// allows what is always refused.
func FuzzParseNetworkPolicy(f *testing.F) {
	for _, s := range []string{DefaultAgentNetworks, "10.244.0.0/16", "0.0.0.0/0,::/0", "::ffff:10.0.0.0/104",
		"169.254.0.0/16", "10.0.0.0/33", " , public", "fe80::1%eth0", "64:ff9b::/96", "1.2.3.4"} {
		f.Add(s)
	}
	refused := []netip.Addr{netip.MustParseAddr("169.254.169.254"), netip.MustParseAddr("fd00:ec2::254"),
		netip.MustParseAddr("::ffff:169.254.169.254"), netip.MustParseAddr("64:ff9b::a9fe:a9fe"),
		netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("::"), netip.MustParseAddr("255.255.255.255"),
		netip.MustParseAddr("ff02::1"), netip.MustParseAddr("100.100.100.200")}
	f.Fuzz(func(t *testing.T, list string) {
		p, err := ParseNetworkPolicy(list)
		if err != nil {
			if p.String() != "" || len(p.Networks()) > 0 || p.AllowsPublic() {
				t.Fatalf("an error (%v) with a policy %q", err, p)
			}
			return
		}
		again, err := ParseNetworkPolicy(p.String())
		if err != nil || again.String() != p.String() || fmt.Sprint(again.Networks()) != fmt.Sprint(p.Networks()) ||
			again.AllowsPublic() != p.AllowsPublic() {
			t.Fatalf("%q reads as %q, which reads back as %q (%v)", list, p, again, err)
		}
		for _, addr := range refused {
			if err := p.Allow(addr); err == nil {
				t.Fatalf("%q allows %s", list, addr)
			}
		}
		if p.Guard(t.Context(), "tcp4", netip.AddrPortFrom(refused[0], 80)) == nil {
			t.Fatalf("%q: the guard allows %s", list, refused[0])
		}
	})
}
