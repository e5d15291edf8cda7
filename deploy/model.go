// Package deploy holds what production deployments use: the Dockerfile, the default health
// model, and the test that keeps docker-compose.yml in step with the services.
package deploy

import _ "embed" // for HealthModel

// HealthModel is health-model.json, the default health model, as shipped. It is embedded so
// that the built-in model (health.DefaultModel, what the scorer runs when HEALTH_MODEL is
// not set) is this file and nothing else, wherever a binary is started from.
//
//go:embed health-model.json
var HealthModel []byte
