// Lists Weir's servers and puts one in maintenance:
//
//	WEIR_URL=http://127.0.0.1:8989 WEIR_USER=admin WEIR_PASSWORD=mariadb go run ./example server1
package main

import (
	"fmt"
	"os"

	"weir.example/client/weir"
)

func env(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: example SERVER")
		os.Exit(2)
	}
	c := weir.New(env("WEIR_URL", "http://127.0.0.1:8989"), env("WEIR_USER", "admin"), env("WEIR_PASSWORD", "mariadb"))
	servers, err := c.ListServers()
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
	for _, s := range servers {
		// Parameters is a typed struct (rank, priority); custom parameters are not in it.
		fmt.Printf("%s\t%s:%d\t%s/%d\t%v\n", s.Name, s.Address, s.Port, s.Parameters.Rank, s.Parameters.Priority, s.State)
	}
	s, err := c.SetMaintenance(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
	fmt.Printf("%s is now %v\n", s.Name, s.State)
}
