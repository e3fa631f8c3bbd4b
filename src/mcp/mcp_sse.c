/*
 * mcp_sse.c - an incremental parser for text/event-stream (the HTML Server-Sent Events format):
 * lines end in LF, CRLF or CR; `data:` lines accumulate, `id:` and `retry:` are remembered for
 * resumption, `:` lines are comments, and a blank line ends an event.
 */
#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"
#include "mcp/mcp_int.h"

#define RETRY_MAX_MS 600000L /* a server's retry is honoured up to ten minutes */

void mcp__sse_init(struct mcp__sse *p, size_t cap, mcp__sse_event_fn on_event, void *ud)
{
    memset(p, 0, sizeof *p);
    p->cap = cap;
    p->retry_ms = -1;
    p->on_event = on_event;
    p->ud = ud;
}

void mcp__sse_release(struct mcp__sse *p)
{
    free(p->line);
    free(p->data);
    p->line = p->data = NULL;
    p->line_len = p->line_cap = p->data_len = p->data_cap = 0;
}

/* Appends n bytes to a growing buffer; returns -1 when it would pass cap. */
static int append(char **buf, size_t *len, size_t *cap_alloc, size_t cap, const char *s, size_t n)
{
    if (*len + n > cap)
        return -1;
    if (*len + n + 1 > *cap_alloc) {
        size_t c = *cap_alloc ? *cap_alloc : 256;
        while (c < *len + n + 1)
            c *= 2;
        *buf = xrealloc(*buf, c);
        *cap_alloc = c;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

/* Applies one complete line. Returns 0, -1 (over the cap) or -2 (the callback stopped). */
static int on_line(struct mcp__sse *p, const char *line, size_t len, struct err *err)
{
    if (len == 0) {
        int stop = 0;
        if (p->data_len > 0) {
            p->data_len--; /* the '\n' after the last data line */
            p->data[p->data_len] = '\0';
            if (p->data_len > 0) /* a priming event carries an empty data line */
                stop = p->on_event(p->ud, p->event, p->data, p->data_len) != 0;
        }
        p->data_len = 0;
        p->event[0] = '\0';
        return stop ? -2 : 0;
    }
    if (line[0] == ':')
        return 0; /* comment, often a keep-alive */
    const char *colon = memchr(line, ':', len);
    size_t flen = colon ? (size_t)(colon - line) : len;
    const char *v = colon ? colon + 1 : line + len;
    if (v < line + len && *v == ' ')
        v++;
    size_t vlen = (size_t)(line + len - v);
    if (flen == 4 && memcmp(line, "data", 4) == 0) {
        if (append(&p->data, &p->data_len, &p->data_cap, p->cap, v, vlen) != 0 ||
            append(&p->data, &p->data_len, &p->data_cap, p->cap, "\n", 1) != 0)
            return err_set(err, "McpProtocol", "an SSE event exceeds %zu bytes", p->cap);
    } else if (flen == 5 && memcmp(line, "event", 5) == 0) {
        size_t n = vlen < sizeof p->event - 1 ? vlen : sizeof p->event - 1;
        memcpy(p->event, v, n);
        p->event[n] = '\0';
    } else if (flen == 2 && memcmp(line, "id", 2) == 0) {
        if (!memchr(v, '\0', vlen)) {
            size_t n = vlen < sizeof p->last_id - 1 ? vlen : sizeof p->last_id - 1;
            memcpy(p->last_id, v, n);
            p->last_id[n] = '\0';
        }
    } else if (flen == 5 && memcmp(line, "retry", 5) == 0) {
        long ms = 0;
        size_t i = 0;
        for (; i < vlen && v[i] >= '0' && v[i] <= '9' && ms <= RETRY_MAX_MS; i++)
            ms = ms * 10 + (v[i] - '0');
        if (vlen > 0 && i == vlen)
            p->retry_ms = ms > RETRY_MAX_MS ? RETRY_MAX_MS : ms;
    }
    return 0;
}

int mcp__sse_feed(struct mcp__sse *p, const char *buf, size_t len, struct err *err)
{
    for (size_t i = 0; i < len; i++) {
        char ch = buf[i];
        if (p->after_cr && ch == '\n') {
            p->after_cr = 0; /* the LF of a CRLF: the line already ended at the CR */
            continue;
        }
        p->after_cr = 0;
        if (ch == '\r' || ch == '\n') {
            int r = on_line(p, p->line ? p->line : "", p->line_len, err);
            p->line_len = 0;
            p->after_cr = ch == '\r';
            if (r != 0)
                return r;
            continue;
        }
        if (append(&p->line, &p->line_len, &p->line_cap, p->cap, &ch, 1) != 0)
            return err_set(err, "McpProtocol", "an SSE line exceeds %zu bytes", p->cap);
    }
    return 0;
}
