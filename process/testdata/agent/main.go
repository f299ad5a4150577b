// Command agent is the agent the process package's tests run: it serves
// GET /health on $HOST:$PORT and misbehaves as its environment says.
//
//	AGENT_PRINT          lines (separated by |) to print on stdout at start
//	AGENT_PRINT_ERR      lines to print on stderr at start
//	AGENT_TICK_MS        print "tick N" every so many milliseconds
//	AGENT_CRASH_MS       exit with AGENT_EXIT_CODE (default 1) after so long
//	AGENT_IGNORE_TERM=1  ignore SIGTERM
//	AGENT_NEVER_HEALTHY=1 answer /health with 503
//	AGENT_HEALTHY_ONCE   a file: when it exists, print "unhealthy", answer
//	                     /health with 503 and never crash, else create it
//	AGENT_GRANDCHILD=1   start a child of its own that ignores SIGTERM and
//	                     print "grandchild <pid>"
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if os.Getenv("AGENT_ROLE") == "grandchild" {
		signal.Ignore(syscall.SIGTERM)
		select {}
	}
	neverHealthy := os.Getenv("AGENT_NEVER_HEALTHY") == "1"
	noCrash := false
	if f := os.Getenv("AGENT_HEALTHY_ONCE"); f != "" {
		if _, err := os.Stat(f); err == nil {
			neverHealthy, noCrash = true, true
			fmt.Println("unhealthy")
		} else if err := os.WriteFile(f, nil, 0o600); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(4)
		}
	}
	for _, l := range split(os.Getenv("AGENT_PRINT")) {
		fmt.Println(l)
	}
	for _, l := range split(os.Getenv("AGENT_PRINT_ERR")) {
		fmt.Fprintln(os.Stderr, l)
	}
	if os.Getenv("AGENT_GRANDCHILD") == "1" {
		self, _ := os.Executable()
		cmd := exec.Command(self)
		cmd.Env = append(os.Environ(), "AGENT_ROLE=grandchild")
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "grandchild:", err)
			os.Exit(3)
		}
		fmt.Printf("grandchild %d\n", cmd.Process.Pid)
	}
	sig := make(chan os.Signal, 1)
	if os.Getenv("AGENT_IGNORE_TERM") == "1" {
		signal.Ignore(syscall.SIGTERM)
	} else {
		signal.Notify(sig, syscall.SIGTERM)
	}
	if ms := atoi(os.Getenv("AGENT_CRASH_MS")); ms > 0 && !noCrash {
		code := 1
		if c := os.Getenv("AGENT_EXIT_CODE"); c != "" {
			code = atoi(c)
		}
		time.AfterFunc(time.Duration(ms)*time.Millisecond, func() {
			fmt.Println("crashing")
			os.Exit(code)
		})
	}
	if ms := atoi(os.Getenv("AGENT_TICK_MS")); ms > 0 {
		go func() {
			for i := 1; ; i++ {
				time.Sleep(time.Duration(ms) * time.Millisecond)
				fmt.Printf("tick %d\n", i)
			}
		}()
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(os.Getenv("HOST"), os.Getenv("PORT")))
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(2)
	}
	http.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		if neverHealthy {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "ok %d", os.Getpid())
	})
	go func() { _ = http.Serve(ln, nil) }()
	<-sig
	fmt.Println("terminating")
	os.Exit(0)
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "|")
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
