// Package deploy holds what production deployments use: the Dockerfile, the default health
// model, the cluster configuration of docker-compose.cluster.yml, and the tests that keep
// both compose files in step with the services (no Docker
// engine runs in development or CI, so nothing else would notice it drifting).
package deploy

import (
	"encoding/xml"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// composeFiles are the compose files the tests check: one server, and the cluster.
var composeFiles = []string{"docker-compose.yml", "docker-compose.cluster.yml"}

// composeFile is the part of a compose file the tests read.
type composeFile struct {
	Services map[string]struct {
		Build struct {
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
		Command     stringList    `yaml:"command"`
		Environment environment   `yaml:"environment"`
		Ports       []publication `yaml:"ports"`
	} `yaml:"services"`
}

// stringList is a compose command: a list, or one string split on spaces.
type stringList []string

func (l *stringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = strings.Fields(n.Value)
		return nil
	}
	return n.Decode((*[]string)(l))
}

// environment is a compose environment: a mapping, or a list of NAME=value (NAME alone passes
// the variable through). A value is the text compose interpolates, e.g. ${WRITE_KEYS:?…}.
type environment map[string]string

func (e *environment) UnmarshalYAML(n *yaml.Node) error {
	*e = environment{}
	if n.Kind == yaml.SequenceNode {
		var list []string
		if err := n.Decode(&list); err != nil {
			return err
		}
		for _, kv := range list {
			k, v, _ := strings.Cut(kv, "=")
			(*e)[k] = v
		}
		return nil
	}
	var m map[string]any // merge keys (<<) are expanded by the decoder
	if err := n.Decode(&m); err != nil {
		return err
	}
	for k, v := range m {
		if v != nil {
			(*e)[k] = fmt.Sprint(v)
		} else {
			(*e)[k] = ""
		}
	}
	return nil
}

// publication is one entry of ports: the short syntax ([HOST_IP:]PUBLISHED:TARGET[/PROTOCOL],
// or TARGET alone) or the long one (a mapping with host_ip, published, target).
type publication struct {
	Raw    string
	HostIP string // "" when the port is published on every interface
}

func (p *publication) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		var long struct {
			HostIP    string `yaml:"host_ip"`
			Published string `yaml:"published"`
			Target    string `yaml:"target"`
		}
		if err := n.Decode(&long); err != nil {
			return err
		}
		*p = publication{Raw: fmt.Sprintf("%+v", long), HostIP: long.HostIP}
		return nil
	}
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	p.Raw = s
	spec, _, _ := strings.Cut(s, "/")
	if strings.HasPrefix(spec, "[") { // [::1]:8080:8080
		if end := strings.Index(spec, "]"); end > 0 {
			p.HostIP = spec[1:end]
		}
		return nil
	}
	// The host IP may be an interpolation, whose default may hold a colon of its own.
	if i := strings.LastIndex(spec, "}"); i >= 0 {
		p.HostIP = spec[:i+1]
		return nil
	}
	if parts := strings.Split(spec, ":"); len(parts) == 3 {
		p.HostIP = parts[0]
	}
	return nil
}

// interpolation is a compose variable reference, ${NAME}, ${NAME:-default}, ${NAME:?error},
// … (or $NAME); $$ is a literal dollar sign.
var interpolation = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)((?::?[-?+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// isSecret names the variables that hold credentials: a default for one would be a published
// credential.
func isSecret(name string) bool {
	for _, suffix := range []string{"_KEYS", "_KEY", "_SECRET", "_PASSWORD", "_TOKEN"} {
		if strings.HasSuffix(name, suffix) {
			return true
		}
	}
	return false
}

func readCompose(t *testing.T, name string) (string, composeFile) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", name))
	if err != nil {
		t.Fatal(err)
	}
	var doc composeFile
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatalf("%s does not parse: %v", name, err)
	}
	return string(src), doc
}

// inComposeFiles runs test on each compose file.
func inComposeFiles(t *testing.T, test func(t *testing.T, src string, doc composeFile)) {
	for _, name := range composeFiles {
		t.Run(name, func(t *testing.T) {
			src, doc := readCompose(t, name)
			test(t, src, doc)
		})
	}
}

// TestComposeMatchesServices: every engage service in docker-compose.yml is built from
// deploy/Dockerfile, runs a binary the Dockerfile builds, and sets only environment
// variables that the documentation names; Kafka runs in KRaft mode.
func TestComposeMatchesServices(t *testing.T) {
	inComposeFiles(t, composeMatchesServices)
}

func composeMatchesServices(t *testing.T, _ string, doc composeFile) {
	dockerfile, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	// The configuration reference is docs/CONFIG.md, generated from the flags; the README
	// documented it before, and a name documented in either counts.
	var docs []string
	for _, f := range []string{"../docs/CONFIG.md", "../README.md"} {
		b, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		docs = append(docs, string(b))
	}
	documented := func(name string) bool {
		return slices.ContainsFunc(docs, func(d string) bool { return strings.Contains(d, "`"+name+"`") })
	}
	for _, want := range []string{"gateway", "worker", "scorer", "notifier"} {
		if _, ok := doc.Services[want]; !ok {
			t.Errorf("service %s missing", want)
		}
	}
	kafkas, clickhouses := 0, 0
	for name, svc := range doc.Services {
		switch {
		case strings.HasPrefix(name, "kafka"):
			kafkas++
			if roles := svc.Environment["KAFKA_PROCESS_ROLES"]; !strings.Contains(roles, "controller") {
				t.Errorf("%s is not in KRaft mode: KAFKA_PROCESS_ROLES=%q", name, roles)
			}
		case strings.HasPrefix(name, "clickhouse"):
			clickhouses++
		}
	}
	if kafkas == 0 || clickhouses == 0 {
		t.Errorf("%d Kafka and %d ClickHouse services, want at least one of each", kafkas, clickhouses)
	}
	for _, name := range []string{"gateway", "worker", "scorer", "notifier"} {
		t.Run(name, func(t *testing.T) {
			svc := doc.Services[name]
			if df := svc.Build.Dockerfile; df != "deploy/Dockerfile" {
				t.Errorf("built from %q, want deploy/Dockerfile", df)
			}
			if len(svc.Command) == 0 || svc.Command[0] != name {
				t.Errorf("command %v, want [%s]", svc.Command, name)
			}
			if !strings.Contains(string(dockerfile), "./services/"+name) {
				t.Errorf("deploy/Dockerfile does not build ./services/%s", name)
			}
			if _, err := os.Stat(filepath.Join("..", "services", name, "main.go")); err != nil {
				t.Errorf("no services/%s/main.go", name)
			}
			keys := []string{"KAFKA_BROKERS", "CLICKHOUSE_ADDR"}
			for k := range svc.Environment {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range slices.Compact(keys) {
				if !documented(k) {
					t.Errorf("environment %s is documented neither in docs/CONFIG.md nor in the README", k)
				}
			}
		})
	}
}

// TestComposeIsSafeByDefault: `docker compose up` with nothing configured neither accepts a
// key anyone can read in this file nor listens beyond this machine. A credential variable
// (WRITE_KEYS, READ_KEYS, …) must be required with ${NAME:?message}, never given a default or
// written out, and every published port is bound to a loopback address unless the operator
// sets another.
func TestComposeIsSafeByDefault(t *testing.T) {
	inComposeFiles(t, composeIsSafeByDefault)
}

func composeIsSafeByDefault(t *testing.T, src string, doc composeFile) {
	required, problems := credentialRefs(src)
	for _, p := range problems {
		t.Error(p)
	}
	for _, want := range []string{"WRITE_KEYS", "READ_KEYS"} {
		if !required[want] {
			t.Errorf("%s is not required with ${%s:?…}", want, want)
		}
	}

	names := make([]string, 0, len(doc.Services))
	for name := range doc.Services {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		svc := doc.Services[name]
		// A credential set in a service comes from the operator: the value is exactly the
		// required variable, not a literal key.
		for k, v := range svc.Environment {
			if isSecret(k) && !regexp.MustCompile(`^\$\{`+k+`:\?[^}]+\}$`).MatchString(v) {
				t.Errorf("%s: %s: %q, want ${%s:?what to set}", name, k, v, k)
			}
		}
		for _, p := range svc.Ports {
			if !loopback(p.HostIP) {
				t.Errorf("%s: port %s is published beyond this machine; bind it to 127.0.0.1 (or ${ENGAGE_PUBLISH_ADDR:-127.0.0.1})", name, p.Raw)
			}
		}
	}
}

// credentialRefs checks every reference to a credential variable in a compose file, comments
// aside: it returns the variables required with ${NAME:?message}, and a problem for every
// other reference (a default, an empty message, a bare $NAME).
func credentialRefs(src string) (required map[string]bool, problems []string) {
	var lines []string
	for _, l := range strings.Split(src, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			lines = append(lines, l)
		}
	}
	required = map[string]bool{}
	for _, m := range interpolation.FindAllStringSubmatch(strings.Join(lines, "\n"), -1) {
		name, op, arg := m[1]+m[4], m[2], m[3]
		if !isSecret(name) {
			continue
		}
		if !strings.HasPrefix(op, ":?") || strings.TrimSpace(arg) == "" {
			problems = append(problems, fmt.Sprintf("%s: a credential must be required with ${%s:?what to set}, so that a deployment that forgets it does not start", m[0], name))
			continue
		}
		required[name] = true
	}
	return required, problems
}

// loopback reports whether a host IP is a loopback address, or an interpolation whose default
// is one.
func loopback(hostIP string) bool {
	if m := regexp.MustCompile(`^\$\{[A-Za-z_][A-Za-z0-9_]*:-([^}]*)\}$`).FindStringSubmatch(hostIP); m != nil {
		hostIP = m[1]
	}
	if hostIP == "localhost" {
		return true
	}
	ip := net.ParseIP(hostIP)
	return ip != nil && ip.IsLoopback()
}

// TestComposeChecks: the checks above catch what they are for, on documents that break each
// rule.
func TestComposeChecks(t *testing.T) {
	cases := []struct {
		port     string
		loopback bool
	}{
		{"127.0.0.1:8080:8080", true},
		{"127.0.0.1:8080:8080/tcp", true},
		{"[::1]:8080:8080", true},
		{"${ENGAGE_PUBLISH_ADDR:-127.0.0.1}:8080:8080", true},
		{"8080:8080", false},
		{"8080", false},
		{"0.0.0.0:8080:8080", false},
		{"${ENGAGE_PUBLISH_ADDR:-0.0.0.0}:8080:8080", false},
		{"${ENGAGE_PUBLISH_ADDR}:8080:8080", false},
	}
	for _, tc := range cases {
		var p publication
		if err := yaml.Unmarshal([]byte(`"`+tc.port+`"`), &p); err != nil {
			t.Fatal(err)
		}
		if got := loopback(p.HostIP); got != tc.loopback {
			t.Errorf("%s: loopback = %v (host IP %q), want %v", tc.port, got, p.HostIP, tc.loopback)
		}
	}
	for ref, ok := range map[string]bool{
		"${WRITE_KEYS:?set WRITE_KEYS}":     true,
		"${WRITE_KEYS:-change-me}":          false,
		"${WRITE_KEYS-change-me}":           false,
		"${WRITE_KEYS?set it}":              false, // set but empty would pass
		"${WRITE_KEYS}":                     false,
		"$WRITE_KEYS":                       false,
		"${WRITE_KEYS:?}":                   false,
		"${API_TOKEN:-x}":                   false,
		"$$WRITE_KEYS":                      true, // a literal dollar sign
		"# ${WRITE_KEYS:-in a comment}":     true,
		"${WRITE_KEYS_FILE:-/etc/keys.txt}": true, // a path, not a credential
	} {
		if _, problems := credentialRefs(ref); (len(problems) == 0) != ok {
			t.Errorf("%s: problems %q, want accepted = %v", ref, problems, ok)
		}
	}
}

// TestComposeCluster: the cluster file runs what docs/SCALING.md describes: 2 shards × 2
// replicas whose macros name their shard and replica, remote_servers listing exactly those
// servers, a ZooKeeper-protocol ensemble, three Kafka brokers with replication factor 3, and
// engage's services in cluster mode with load_balancing = in_order in the servers' profile.
func TestComposeCluster(t *testing.T) {
	_, doc := readCompose(t, "docker-compose.cluster.yml")
	cluster, err := os.ReadFile(filepath.Join("cluster", "clickhouse.xml"))
	if err != nil {
		t.Fatal(err)
	}
	var remote struct {
		Shards []struct {
			Internal bool `xml:"internal_replication"`
			Replicas []struct {
				Host string `xml:"host"`
			} `xml:"replica"`
		} `xml:"remote_servers>engage>shard"`
		ZooKeeper []string `xml:"zookeeper>node>host"`
	}
	if err := xml.Unmarshal(cluster, &remote); err != nil {
		t.Fatal(err)
	}
	if len(remote.Shards) != 2 || len(remote.ZooKeeper) == 0 {
		t.Fatalf("remote_servers has %d shards, zookeeper %v; want 2 and a node", len(remote.Shards), remote.ZooKeeper)
	}
	if _, ok := doc.Services[remote.ZooKeeper[0]]; !ok {
		t.Errorf("the ZooKeeper node %s is not a service", remote.ZooKeeper[0])
	}
	for s, shard := range remote.Shards {
		if !shard.Internal || len(shard.Replicas) != 2 {
			t.Errorf("shard %d: internal_replication %v, %d replicas; want true and 2", s+1, shard.Internal, len(shard.Replicas))
		}
		for _, r := range shard.Replicas {
			if _, ok := doc.Services[r.Host]; !ok {
				t.Errorf("replica %s is not a service", r.Host)
				continue
			}
			suffix := strings.TrimPrefix(r.Host, "clickhouse-")
			b, err := os.ReadFile(filepath.Join("cluster", "macros-"+suffix+".xml"))
			if err != nil {
				t.Error(err)
				continue
			}
			var m struct {
				Shard   string `xml:"macros>shard"`
				Replica string `xml:"macros>replica"`
			}
			if err := xml.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			if m.Shard != fmt.Sprintf("%02d", s+1) || m.Replica != r.Host {
				t.Errorf("%s: macros shard %q replica %q, want %02d and %s", r.Host, m.Shard, m.Replica, s+1, r.Host)
			}
		}
	}
	users, err := os.ReadFile(filepath.Join("cluster", "users.xml"))
	if err != nil || !strings.Contains(string(users), "<load_balancing>in_order</load_balancing>") {
		t.Errorf("deploy/cluster/users.xml does not set load_balancing = in_order (%v)", err)
	}
	brokers := 0
	for name := range doc.Services {
		if strings.HasPrefix(name, "kafka-") {
			brokers++
		}
	}
	if brokers != 3 {
		t.Errorf("%d Kafka brokers, want 3", brokers)
	}
	for _, name := range []string{"worker", "scorer"} {
		env := doc.Services[name].Environment
		if env["CLICKHOUSE_CLUSTER"] != "engage" || env["CLICKHOUSE_ZOOKEEPER"] == "" || env["TOPIC_REPLICATION"] != "3" {
			t.Errorf("%s: CLICKHOUSE_CLUSTER %q, CLICKHOUSE_ZOOKEEPER %q, TOPIC_REPLICATION %q; want engage, set, 3",
				name, env["CLICKHOUSE_CLUSTER"], env["CLICKHOUSE_ZOOKEEPER"], env["TOPIC_REPLICATION"])
		}
	}
}
