-- chat.lua - wrk script: every request is a new-session POST /chat; WRK_SSE=1 asks for the
-- Server-Sent Events form (Accept: text/event-stream).
wrk.method = "POST"
wrk.body = '{"message":"Hello, where is my order?"}'
wrk.headers["Content-Type"] = "application/json"
if os.getenv("WRK_SSE") == "1" then
  wrk.headers["Accept"] = "text/event-stream"
end
