-- Fixture for the migration runner: two tables in one file, unqualified names.
-- A ';' or '--' inside a string must not split the statement.
CREATE TABLE IF NOT EXISTS visits
(
    account_id String,
    user_id    String,
    note       String DEFAULT 'a;b -- not a comment'
)
ENGINE = MergeTree
ORDER BY (account_id, user_id);

/* Block comments are stripped too; */
CREATE TABLE IF NOT EXISTS accounts
(
    account_id String,
    plan       String
)
ENGINE = MergeTree
ORDER BY account_id; -- trailing comment after the terminator
