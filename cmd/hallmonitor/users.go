package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/term"

	"github.com/hallmonitor/hallmonitor/adapters/store"
	"github.com/hallmonitor/hallmonitor/daemon"
	"github.com/hallmonitor/hallmonitor/daemon/config"
	"github.com/hallmonitor/hallmonitor/dashboard"
)

var dashboardRoles = []string{daemon.RoleAdmin, daemon.RoleDSL, daemon.RoleSLT, daemon.RoleViewer}

func init() {
	register("users", "manage dashboard accounts and API tokens (add, list, token)", runUsers)
}

func runUsers(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	const synopsis = "add|list|token [--config FILE] [--role ROLE] NAME\n\n" +
		"  users add --role dsl NAME     create an account; the password is read from the terminal or stdin\n" +
		"  users list                    list accounts\n" +
		"  users token --role viewer NAME  create an API token for an integration and print it once"
	fs := newFlags("users", synopsis, stdout, stderr)
	cfgPath := fs.String("config", defaultConfigPath, "configuration file (for storage.data_dir)")
	role := fs.String("role", daemon.RoleViewer, "role: admin, dsl, slt or viewer")
	verb, code, done := parseVerb(fs, args, stdout)
	if done {
		return code
	}
	if !slices.Contains(dashboardRoles, *role) {
		fmt.Fprintf(stderr, "users: unknown role %q (want one of %s)\n", *role, strings.Join(dashboardRoles, ", "))
		return 2
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		printConfigErrors(stderr, err)
		return 1
	}
	st, err := store.Open(ctx, dbPath(cfg), cfg.School.SiteID, zap.NewNop())
	if err != nil {
		fmt.Fprintf(stderr, "users: %v\n", err)
		return 1
	}
	defer st.Close()
	now := time.Now().UTC()
	switch verb {
	case "list":
		users, err := st.ListUsers(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "users: %v\n", err)
			return 1
		}
		for _, u := range users {
			fmt.Fprintf(stdout, "%s\t%s\t%s\n", u.Name, u.Role, u.CreatedAt.Format(time.RFC3339))
		}
		return 0
	case "add", "token":
	default:
		fmt.Fprintf(stderr, "users: unknown action %q (want add, list or token)\n", verb)
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "users %s: give exactly one NAME\n", verb)
		return 2
	}
	name := fs.Arg(0)
	if verb == "token" {
		token := randomSecret(32)
		if err := st.CreateAPIToken(ctx, daemon.APIToken{Name: name, TokenHash: dashboard.HashToken(token), Role: *role, CreatedAt: now}); err != nil {
			fmt.Fprintf(stderr, "users: %v\n", err)
			return 1
		}
		audit(ctx, st, zap.NewNop(), cfg.School.SiteID, "token.create", name, "", *role)
		fmt.Fprintln(stdout, token)
		return 0
	}
	pw, err := readPassword(stdout)
	if err != nil {
		fmt.Fprintf(stderr, "users: %v\n", err)
		return 1
	}
	if len(pw) < 10 {
		fmt.Fprintln(stderr, "users: the password must have at least 10 characters")
		return 1
	}
	hash, err := dashboard.HashPassword(pw)
	if err != nil {
		fmt.Fprintf(stderr, "users: %v\n", err)
		return 1
	}
	if err := st.CreateUser(ctx, daemon.User{Name: name, Role: *role, PasswordHash: hash, CreatedAt: now}); err != nil {
		fmt.Fprintf(stderr, "users: %v\n", err)
		return 1
	}
	audit(ctx, st, zap.NewNop(), cfg.School.SiteID, "user.create", name, "", *role)
	fmt.Fprintf(stdout, "created %s (%s)\n", name, *role)
	return 0
}

// readPassword asks twice on a terminal, or reads one line from stdin.
func readPassword(prompt io.Writer) (string, error) {
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil && line == "" {
			return "", fmt.Errorf("read password from stdin: %w", err)
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	fmt.Fprint(prompt, "Password: ")
	a, err := term.ReadPassword(fd)
	fmt.Fprintln(prompt)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	fmt.Fprint(prompt, "Again: ")
	b, err := term.ReadPassword(fd)
	fmt.Fprintln(prompt)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	if string(a) != string(b) {
		return "", fmt.Errorf("the passwords differ")
	}
	return string(a), nil
}
