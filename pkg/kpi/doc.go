// Package kpi reads engage's customer-success KPIs from ClickHouse: churn, MRR movements,
// NRR, LTV/CLV, NPS, CSAT, trial conversion, adoption, time to value, retention cohorts,
// renewals and referrals, plus the account history they are built on.
//
// The KPIs themselves are ClickHouse views (schemas/clickhouse/0005_kpis.sql and later
// migrations) computed from
// the raw events at query time, so late events and duplicates are always accounted for; this
// package only gives each view a typed row and a query function, and writes the two
// configuration tables (kpi_settings, core_features). docs/KPIS.md defines every KPI and
// explains the decisions behind them.
//
// Invariants:
//   - Every row type lists exactly the view's columns, in order, with the Go type the
//     ClickHouse column scans into; NULL columns are pointers. TestRowTypesMatchViews pins it.
//   - Queries bind their arguments; a Filter never reaches the SQL text as a literal.
//   - Days and months are UTC dates; a Filter's times are truncated to the view's period.
package kpi
