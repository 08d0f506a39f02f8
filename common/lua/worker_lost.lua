-- worker_lost: the worker master saw one of its children exit; hand back
-- what that child held at once, instead of waiting for its heartbeat to
-- grow older than scheduler.worker_timeout (recover.lua stays the net for
-- whole hosts, whose master died with them).
-- ARGV: 1 prefix, 2 worker id, 3 scheduler.max_recoveries, 4 retention (ms)
-- Returns {requeued, crashed}
--
-- The same as recover.lua does for one dead worker: in-flight deliveries get
-- an attempt record saying the result is unknown and go back to the front of
-- ready (or fail as 'crashed'); ids moved but not yet claimed go back too;
-- the list and the heartbeat entry are removed. A child that exited
-- gracefully has handed everything back already: nothing is left to do.
local requeued, crashed = recover_worker(ARGV[2], tonumber(ARGV[4]), now_ms(), tonumber(ARGV[3]))
return {requeued, crashed}
