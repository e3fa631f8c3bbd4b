/*
 * chat_stream.c - Server-Sent Events for a streaming turn. The turn runs as a scheduler task and
 * produces events into a buffer; the connection's event thread drains it without blocking, and
 * while the buffer is empty the server suspends the connection until the task wakes it
 * (http_wake_signal). The stream owns itself: whichever side finishes last (turn task or
 * connection) frees it.
 */
#include "runtime/chat_stream.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "agent/turn.h"
#include "base/buf.h"
#include "base/jsontext.h"
#include "base/sched.h"
#include "base/xmalloc.h"
#include "base/errcode.h"
#include "telemetry/trace.h"

/* Bytes of events waiting for a client that stopped reading; past it, further events are dropped
 * (a turn's own caps keep a live client far below it). */
#define STREAM_PENDING_MAX (64u * 1024 * 1024)

struct stream {
    pthread_mutex_t lock;   /* guards everything below */
    struct http_wake *wake; /* wakes the connection when data is appended or the turn ends */
    struct buf out;         /* events not yet sent, capped at STREAM_PENDING_MAX */
    size_t sent;            /* bytes of out already handed to the connection */
    int finished;           /* the turn thread is done producing */
    int refs;               /* 2 while both sides hold the stream */
    struct agent *agent;    /* runs the turn */
    json_t *request;        /* the validated request (owned) */
    struct trace_ctx *seg;  /* the request's trace segment, ended when the turn ends */
};

/* Turn tasks still running, so shutdown can wait for them before freeing what they use. */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t live_zero = PTHREAD_COND_INITIALIZER;
static int live_turns;

static void live_add(int delta)
{
    pthread_mutex_lock(&live_lock);
    live_turns += delta;
    assert(live_turns >= 0); /* every turn thread is counted in before it is counted out */
    if (live_turns == 0)
        pthread_cond_broadcast(&live_zero);
    pthread_mutex_unlock(&live_lock);
}

void chat_stream_drain(void)
{
    pthread_mutex_lock(&live_lock);
    while (live_turns > 0)
        pthread_cond_wait(&live_zero, &live_lock);
    pthread_mutex_unlock(&live_lock);
}

static void stream_unref(struct stream *s)
{
    pthread_mutex_lock(&s->lock);
    int left = --s->refs;
    assert(left >= 0); /* the connection and the turn thread drop one reference each */
    pthread_mutex_unlock(&s->lock);
    if (left)
        return;
    pthread_mutex_destroy(&s->lock);
    http_wake_unref(s->wake);
    json_decref(s->request);
    buf_release(&s->out);
    free(s);
}

/* Appends one SSE event (data is compact JSON, so it holds no newline); with last, the turn's
 * final event, the stream is finished in the same step, so that one wake carries both: a wake
 * for each cost the connection another resume and suspension, and a send, at the end of every
 * streamed turn. */
static void emit_event(struct stream *s, const char *event, json_t *data, int last)
{
    char *json = jsontext_dump(data);
    pthread_mutex_lock(&s->lock);
    (void)buf_printf(&s->out, "event: %s\ndata: %s\n\n", event, json);
    if (last)
        s->finished = 1;
    pthread_mutex_unlock(&s->lock);
    http_wake_signal(s->wake);
    free(json);
    json_decref(data);
}

static void emit(struct stream *s, const char *event, json_t *data)
{
    emit_event(s, event, data, 0);
}

static void on_text(void *ud, const char *delta)
{
    emit(ud, "delta", json_pack("{s:s}", "text", delta));
}

static void on_tool(void *ud, const json_t *action)
{
    emit(ud, "action", json_deep_copy(action));
}

static void turn_task(void *arg)
{
    struct stream *s = arg;
    struct agent_observer obs = {on_text, on_tool, s};
    agent_observer_set(&obs);
    agent_trace_set(s->seg);
    struct err e;
    err_clear(&e);
    json_t *out = turn_run(s->agent, s->request, &e);
    agent_trace_set(NULL);
    agent_observer_set(NULL);
    trace_end(s->seg, out ? 200 : errcode_status(e.code[0] ? e.code : "InternalError"));
    s->seg = NULL;
    if (out)
        emit_event(s, "done", out, 1);
    else
        emit_event(s, "error",
                   json_pack("{s:{s:s, s:s}}", "error", "code",
                             e.code[0] ? e.code : "InternalError", "message", e.message),
                   1);
    stream_unref(s);
    live_add(-1);
}

static ssize_t stream_read(void *ud, char *out, size_t max)
{
    struct stream *s = ud;
    pthread_mutex_lock(&s->lock);
    assert(s->sent <= s->out.len);
    ssize_t n = s->finished ? -1 : 0; /* 0: nothing yet, the server waits for the wake */
    if (s->sent < s->out.len) {
        size_t avail = s->out.len - s->sent;
        size_t take = avail < max ? avail : max;
        memcpy(out, s->out.data + s->sent, take);
        s->sent += take;
        if (s->sent == s->out.len) {
            s->sent = 0;
            buf_reset(&s->out);
        }
        n = (ssize_t)take;
    }
    pthread_mutex_unlock(&s->lock);
    return n;
}

static void stream_release(void *ud)
{
    stream_unref(ud);
}

int chat_stream_start(struct agent *a, struct sched *sched, json_t *request, struct trace_ctx *seg,
                      struct http_response *resp, struct err *err)
{
    struct stream *s = xcalloc(1, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    buf_init(&s->out, STREAM_PENDING_MAX);
    s->refs = 2;
    s->agent = a;
    s->request = request;
    s->seg = seg;
    s->wake = http_response_wake(resp);
    live_add(1);
    if (!sched || sched_submit(sched, turn_task, s) < 0) {
        live_add(-1);
        s->request = NULL;
        s->refs = 1;
        stream_unref(s);
        return err_set(err, "ServiceUnavailable", "the server is shutting down");
    }
    resp->status = 200;
    resp->content_type = "text/event-stream";
    http_response_header(resp, "Cache-Control", "no-cache");
    resp->stream_fn = stream_read;
    resp->stream_ud = s;
    resp->stream_free = stream_release;
    return 0;
}
