-- Shared by every script: it is prepended to each one when the scripts are loaded.
-- A record starts with its state's digit (TrialState: 0 RUNNING, 1 COMPLETE, 2 PRUNED,
-- 3 FAIL, 4 WAITING).
local function is_finished(state)
  return state == '1' or state == '2' or state == '3'
end

