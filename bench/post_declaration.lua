-- wrk script: every request is a different person's valid declaration (a repeated
-- body would be an idempotent replay, not a durable write).
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

local counter = 0
-- Unique across runs too: a warm-up's bodies must not be replayed by the measured run.
math.randomseed(os.time() + (tid or 0))
local nonce = math.random(1, 1000000000)
local travel_day = os.date("!%Y-%m-%d", os.time() - 3 * 86400)
local template = [[{"full_name":"Nguyễn Văn Bench %d-%d-%d","document_type":"cccd",]] ..
  [["document_number":"045090%06d","date_of_birth":"1990-05-17","sex":"male",]] ..
  [["phone":"0912345678","residence":{"province_code":44,"commune_code":18880,]] ..
  [["street":"%d Lê Lợi"},"coming_from":{"province_code":46},"going_to":{"province_code":44},]] ..
  [["vehicle":{"type":"car","plate":"74A-123.45"},]] ..
  [["travel_history":[{"province_code":46,"date":"%s"}],"symptoms":{"cough":true},]] ..
  [["exposure":{"contact_with_case":false},"vaccination_doses":3,"biometric_consent":true}]]
local headers = {["Content-Type"] = "application/json"}

request = function()
  counter = counter + 1
  local body = string.format(template, nonce, tid, counter, counter % 1000000, counter, travel_day)
  return wrk.format("POST", nil, headers, body)
end
