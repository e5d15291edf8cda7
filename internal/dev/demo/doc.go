// Package demo simulates the telemetry of a B2B SaaS product's customers, for `make demo`,
// for benchmarks and for tests: a population of accounts on different plans with their
// users, the product events and heartbeats of those users' sessions, and the business
// signals the health score reads ($account traits, $nps, $csat, $ticket, $referral,
// $renewal, $signup). A Sender posts the events to the gateway.
//
// # Determinism
//
// The simulation is a pure function of Config: the same Seed, Start and Days produce the
// same accounts, the same events in the same order and the same event ids, byte for byte.
// Each account (and each of its users) draws from its own random stream derived from the
// seed and its index, so account i is the same whether 10 or 10,000 accounts are simulated,
// and shards of the population can be generated in parallel.
//
// Event ids are "<namespace>-<account>-<user>-<n>": the namespace hashes the seed, the start
// day and the number of days, account and user are indexes (user 0 is the account's own
// stream of $account events) and n counts that stream's events. Re-running a simulation with
// the same seed, start and days therefore re-sends exactly the events already sent, and the
// pipeline, which counts each event_id once, ignores the repeats: an interrupted `make demo`
// can simply be started again. A run with another start day (the default start moves with the
// calendar) is another simulation with other ids.
//
// # Order
//
// Every stream (one user, or one account's traits) is strictly increasing in time, and every
// API of the package yields a stream's events in that order: Stream and Generate day by day
// (all events a user produces on one local day, then the next user), Feed in global time
// order. The pipeline treats an event as late when it is more than an hour older than the
// newest event of the same user, so either order sessionizes exactly.
//
// # Time
//
// Day 0 is Config.Start, a UTC midnight; the simulation's lifecycle (trials, upgrades,
// cancellations) is scripted over Config.Days days and the simulation can run past them,
// steadily, for as long as it is asked (live mode). Each user works in a time zone, mostly
// in office hours, so sessions of users in the Americas and Asia-Pacific cross midnight UTC.
// The only events before Start are the $signup of users and the first $account traits of
// accounts that were customers before the simulated period began.
package demo
