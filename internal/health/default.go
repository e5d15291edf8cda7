package health

import (
	"fmt"

	"github.com/engage-oss/engage/deploy"
)

// DefaultModel returns a fresh copy of the default model, deploy/health-model.json as
// embedded at build time: the weights of the source documents (usage 40, NPS 10, tickets 20,
// billing 30) and the contract's bands (red ≤ 40, yellow ≤ 70, green ≤ 100). The file is
// the only definition, so the built-in model and the shipped file cannot disagree.
func DefaultModel() *Model {
	m, err := ParseModel(deploy.HealthModel)
	if err != nil {
		// The health package's tests parse the same bytes; a release cannot get here.
		panic(fmt.Sprintf("health: the embedded deploy/health-model.json is invalid: %v", err))
	}
	return m
}
