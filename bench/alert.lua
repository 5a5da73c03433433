-- wrk script for bench/load.sh: TradingView alerts over 10,000 funds.
-- Arguments: MODE (accepted | duplicate | forged | oversize) and RUN (a prefix that keeps keys
-- unique across runs against the same server).
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function init(args)
  mode = args[1] or "accepted"
  run = args[2] or "run"
  counter = 0
end

request = function()
  counter = counter + 1
  local fund = counter % 10000
  local key = "k-" .. run .. "-" .. tid .. "-" .. counter
  local secret = "secret-" .. fund
  if mode == "duplicate" then
    fund, key, secret = 0, "dup-" .. run, "secret-0"
  elseif mode == "forged" then
    secret = "forged-" .. counter
  end
  local body = string.format(
    '{"secret":"%s","strategy_id":"load","fund_id":"fund-%d","symbol":"BINANCE:BTCUSDT","side":"buy","quantity":"0.01","order_type":"market","idempotency_key":"%s"}',
    secret, fund, key)
  if mode == "oversize" then
    body = body .. string.rep(" ", 5000)
  end
  return wrk.format("POST", "/tradingview/webhook", {["Content-Type"] = "application/json"}, body)
end
