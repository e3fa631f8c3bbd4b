/*
 * client.c - the libcurl client (see client.h): a mutex-guarded stack of idle easy handles,
 * per-attempt transfer state and the retry loop (delays from base/backoff). A transfer is driven
 * through curl's multi socket interface: on a scheduler thread every task's calls share the
 * thread's few multi handles (and their connection caches), off one each easy handle has its own.
 * The calling task parks with sched_wait_fd_event() on the one socket curl watches for its transfer
 * (the usual case) or, while curl watches several at once (happy eyeballs, the resolver), on a
 * private epoll set of them, on curl's timeout, and on its wake event: another task's curl call
 * may run our transfer, and then records its end and wakes us. Streamed bytes reach on_data in
 * the calling task, outside curl.
 *
 * A call in progress costs a descriptor (its socket), and a process serving thousands of turns
 * would run out of them (EMFILE: a failed connect): calls in progress are capped process-wide at
 * what RLIMIT_NOFILE leaves after a reserve (the store, logs, archive files, the loops) and the
 * descriptors set aside for the server's client connections (http_client_set_fds_aside; at most
 * half the limit, since a turn's call and the client connection waiting on it take one each). A
 * call over the cap waits, parked, for one to finish (see slot_take).
 *
 * HTTP/2: an https origin whose TLS handshake picked HTTP/2 (ALPN; curl's default for https) or
 * that answered over it is noted as multiplexing (the origin memo, corrected by every answer),
 * and its calls share connections: every https call waits for a connection that may multiplex
 * rather than opening its own (CURLOPT_PIPEWAIT, so that a burst of calls to a fresh origin opens
 * one connection a multi handle, not one a call), and a call to a multiplexing origin counts
 * against the cap on calls in progress as the share of a descriptor it holds: one in
 * DRIVER_CALLS_MAX (slot_cost). Plain http stays HTTP/1.1 (libcurl 7.88 fails every stream after
 * the first on an HTTP/2 connection without TLS, prior knowledge).
 */
#include "http/client.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/ssl.h>

#include "base/backoff.h"
#include "base/buf.h"
#include "base/config.h"
#include "base/clock.h"
#include "base/fault.h"
#include "base/dlist.h"
#include "base/log.h"
#include "base/sched.h"
#include "base/xmalloc.h"

#define HEADER_BYTES_MAX (64 * 1024)
#define HEADERS_MAX 128
#define WAIT_SLICE_MS 1000 /* the timer keeper's longest park without curl's timer */
#define IDLE_WAIT_MS 5000  /* any other waiter's longest park: a safety net, not the mechanism */

/* A socket curl asked us to watch, and for what (CURL_POLL_IN/OUT/INOUT). */
struct sock {
    int fd;
    int what;
};

/* What runs transfers: a multi handle and the deadline its timer asked for. On a scheduler
 * thread the calls of all its tasks share a few (a multi handle's socket hash alone is 29 KiB and
 * it holds a socket pair: per call in flight that was most of the memory of a held turn), each
 * carrying at most DRIVER_CALLS_MAX calls at once; off a scheduler thread each connection handle
 * has its own. */
struct driver {
    CURLM *m;             /* the multi handle */
    int64_t deadline;     /* monotonic ms when curl wants its timeout action, -1 = none */
    int calls;            /* transfers added to m and not yet removed */
    struct dlist waiting; /* the conns of those transfers (struct conn.link) */
    struct conn *keeper;  /* the one whose task runs curl's timer for all of them, or NULL */
    int64_t keeper_until; /* when the keeper's park ends, -1 while it is not parked */
};

/* Calls one shared multi handle carries at once. libcurl (7.88) walks every connection of a
 * multi handle's cache, the busy ones included, when a transfer is removed (it looks for the
 * one the transfer last used, to close it if it was connect-only) and when a new transfer looks
 * for an idle connection to the same host: with one multi handle per thread those walks grew
 * with the calls in flight (libcurl was 13.7% of the CPU samples at 4,000 connections, 5.3%
 * with handles of 64). A thread opens another multi handle when those it has are full, and a
 * call takes the first with room, so calls keep reusing the same handles' kept-alive
 * connections; the last one is freed when it drains (drivers_drop). */
#define DRIVER_CALLS_MAX 64

/* A scheduler thread's shared multi handles. */
struct drivers {
    struct driver **v; /* in order of creation */
    size_t n;          /* entries in v */
};

struct xfer;

/* One call's worth of libcurl: the easy handle, the sockets curl asked us to watch for it, and
 * how its transfer ended. On a shared multi another task's curl call may run this transfer (an
 * expired timer of ours, say): it then records the end here and signals `wake`, and keeps
 * streamed bytes for us (struct xfer), so our callbacks run in our own task. At 10,000 turns in
 * flight a descriptor per turn matters (RLIMIT_NOFILE), so the epoll set of the sockets exists
 * only once curl watched two at the same time; with one the task waits on the socket itself. */
struct conn {
    CURL *h;                  /* the easy handle, reset between calls */
    struct driver *own;       /* its own multi, off a scheduler thread (created on first use) */
    struct sched_event *wake; /* signalled when another task ran our transfer */
    struct xfer *x;           /* the attempt in progress */
    int done;                 /* the transfer ended (result holds its code) */
    CURLcode result;          /* its curl code */
    struct sock *socks;       /* the sockets curl watches */
    size_t n_socks;           /* entries in socks */
    size_t cap_socks;         /* allocated entries */
    int epfd;                 /* epoll set mirroring socks, -1 until two were watched at once */
    struct dlist link;        /* on its driver's waiting list while its transfer is added */
    int keep;                 /* the call may keep its connection for reuse (slot_take) */
    int mux;                  /* its place is one share (slot_cost): its origin multiplexes */
};

struct http_client {
    struct http_client_config cfg; /* defaults resolved */
    pthread_mutex_t mu;            /* guards idle; never held across a wait */
    struct conn **idle;            /* idle connections, keep their connections open */
    size_t n_idle;                 /* connections in idle */
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- The process-wide cap on calls in progress ---------------------------------------------- */

#define SLOTS_MIN 8       /* the cap however low the open-file limit */
#define SLOTS_RESERVE 256 /* descriptors left for the store, logs, archive files, loops */
#define SLOT_WAIT_MS 1000 /* a waiter looks again at least this often */

static pthread_once_t slots_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t slots_mu = PTHREAD_MUTEX_INITIALIZER; /* guards the five below, origins */
static long slots_max;        /* the cap on calls in progress (slots_set_caps) */
static long slots_keep;       /* outbound sockets from which a call does not keep its connection */
static long slots_aside = -1; /* set aside for client connections (-1: half the limit) */
static long slots_used;       /* calls in progress, in shares (slot_cost) */
static atomic_long out_sockets;        /* outbound sockets open: calls in progress and idle ones */
static int slots_warned;               /* the cap was logged */
static struct sched_event *slot_freed; /* signalled by slot_give */

/* Sets the caps for the current open-file limit (slots_mu held). Of the descriptors left after
 * the reserve and the client connections' share, calls in progress take at most three quarters;
 * the outbound sockets, busy and idle, seven eighths: a call that starts with that many open
 * does not keep its connection (slot_take). The last eighth covers each multi handle's socket
 * pair (two per DRIVER_CALLS_MAX calls) and sockets opened past the mark. Each multi handle keeps
 * its own idle connections (drivers_drop frees drained ones): at seven eighths and fifteen
 * sixteenths, with ~150 handles each keeping up to 64, the process still ran out of descriptors
 * in one 10,000-connection run in three. */
static void slots_set_caps(long *fds_out, long *aside_out)
{
    struct rlimit rl;
    long fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                   ? (long)rl.rlim_cur
                   : 1L << 20;
    long aside = slots_aside < 0 || slots_aside > fds / 2 ? fds / 2 : slots_aside;
    *fds_out = fds;
    *aside_out = aside;
    long left = fds - SLOTS_RESERVE - aside;
    slots_max = left / 4 * 3 < SLOTS_MIN ? SLOTS_MIN : left / 4 * 3;
    slots_keep = left / 8 * 7 < SLOTS_MIN ? SLOTS_MIN : left / 8 * 7;
}

static void slots_init(void)
{
    long fds, aside;
    pthread_mutex_lock(&slots_mu);
    slots_set_caps(&fds, &aside);
    pthread_mutex_unlock(&slots_mu);
    slot_freed = sched_event_new();
}

long http_client_sockets_open(void)
{
    return atomic_load(&out_sockets);
}

long http_client_set_fds_aside(long n)
{
    pthread_once(&slots_once, slots_init);
    long fds, aside;
    pthread_mutex_lock(&slots_mu);
    slots_aside = n < 0 ? 0 : n;
    slots_set_caps(&fds, &aside);
    long cap = slots_max;
    pthread_mutex_unlock(&slots_mu);
    sched_event_signal(slot_freed); /* a raised cap: a waiter looks again (and passes it on) */
    log_at(LL_INFO, "http",
           "outbound calls in progress capped at %ld (open-file limit %ld, %ld set aside for "
           "client connections)",
           cap, fds, aside);
    return cap;
}

/* ---- The origin memo: which https origins multiplex ------------------------------------------ */

#define ORIGINS_MAX 64     /* origins remembered; past it the oldest entry is replaced */
#define ORIGIN_KEY_MAX 256 /* scheme://authority; a longer origin is never remembered */

/* An origin ("https://host:port", as in the URL) and whether its last answer came over HTTP/2. */
struct origin {
    char key[ORIGIN_KEY_MAX];
    int mux;
};

static struct origin origins[ORIGINS_MAX]; /* guarded by slots_mu */
static size_t origins_n, origins_next;     /* entries in use; the next one to replace when full */

#define HTTPS_SCHEME "https://"

/* 1 when url is https: only TLS connections multiplex here (HTTP/2 by ALPN). */
static int url_is_https(const char *url)
{
    return strncasecmp(url, HTTPS_SCHEME, sizeof HTTPS_SCHEME - 1) == 0;
}

/* Writes url's origin (scheme://authority) to key; returns its length, or 0 when url is not
 * https or its origin does not fit. */
static size_t origin_key(const char *url, char key[ORIGIN_KEY_MAX])
{
    if (!url_is_https(url))
        return 0;
    size_t n = sizeof HTTPS_SCHEME - 1 + strcspn(url + sizeof HTTPS_SCHEME - 1, "/?#");
    if (n >= ORIGIN_KEY_MAX)
        return 0;
    memcpy(key, url, n);
    key[n] = '\0';
    return n;
}

/* The memo's entry for key, or NULL (slots_mu held). */
static struct origin *origin_find(const char *key)
{
    for (size_t i = 0; i < origins_n; i++)
        if (strcasecmp(origins[i].key, key) == 0)
            return &origins[i];
    return NULL;
}

/* 1 when key (origin_key's, "" for none) multiplexes (slots_mu held). */
static int origin_mux_locked(const char *key)
{
    struct origin *o = key[0] ? origin_find(key) : NULL;
    return o && o->mux;
}

/* Notes how the origin key answered or connected: over HTTP/2 (mux 1) or not. */
static void origin_learn_key(const char *key, int mux)
{
    pthread_mutex_lock(&slots_mu);
    struct origin *o = origin_find(key);
    if (!o && mux) { /* one that does not multiplex is the default: not worth a place */
        o = &origins[origins_n < ORIGINS_MAX ? origins_n++ : origins_next];
        if (origins_n == ORIGINS_MAX)
            origins_next = (origins_next + 1) % ORIGINS_MAX;
        snprintf(o->key, sizeof o->key, "%s", key);
    }
    int news = o && o->mux != mux;
    if (o)
        o->mux = mux;
    pthread_mutex_unlock(&slots_mu);
    if (news && mux) /* calls waiting for a place may now need only a share */
        sched_event_signal(slot_freed);
}

/* Notes how url's origin answered. */
static void origin_learn(const char *url, int mux)
{
    char key[ORIGIN_KEY_MAX];
    if (origin_key(url, key))
        origin_learn_key(key, mux);
}

/* The origin is learnt as soon as a TLS handshake picks HTTP/2 (ALPN), not only from an
 * answer, which from a slow model comes seconds later: calls of a burst to a fresh origin that
 * wait for a place then take a share, and those in progress give their place back for a share
 * (on_prereq). curl makes an SSL_CTX for each connection it opens (CURLOPT_SSL_CTX_FUNCTION
 * hands it over before the handshake); it carries a copy of its origin's key (ex data, freed
 * with it) and our info callback. */
static int ssl_origin_index = -1;
static pthread_once_t ssl_once = PTHREAD_ONCE_INIT;

static void ssl_origin_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                            void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    free(ptr);
}

static void ssl_once_init(void)
{
    ssl_origin_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, ssl_origin_free);
}

static void on_ssl_info(const SSL *ssl, int where, int ret)
{
    (void)ret;
    if (!(where & SSL_CB_HANDSHAKE_DONE))
        return;
    const unsigned char *proto = NULL;
    unsigned int len = 0;
    SSL_get0_alpn_selected(ssl, &proto, &len);
    const char *key = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ssl_origin_index);
    if (key && len == 2 && memcmp(proto, "h2", 2) == 0)
        origin_learn_key(key, 1);
}

static CURLcode on_ssl_ctx(CURL *h, void *ctx, void *ud)
{
    (void)h;
    const char *url = ud;
    char key[ORIGIN_KEY_MAX];
    pthread_once(&ssl_once, ssl_once_init);
    if (ssl_origin_index < 0 || !origin_key(url, key))
        return CURLE_OK; /* learnt from the answer instead */
    char *copy = xstrdup(key);
    if (SSL_CTX_set_ex_data(ctx, ssl_origin_index, copy) == 1)
        SSL_CTX_set_info_callback(ctx, on_ssl_info);
    else
        free(copy);
    return CURLE_OK;
}

/* A call's share of a place among the calls in progress: a whole place (SLOT_SHARES shares),
 * its connection's descriptor, for most; one share for a call to an origin that multiplexes,
 * since such calls share a connection a multi handle, which carries at most DRIVER_CALLS_MAX. */
#define SLOT_SHARES DRIVER_CALLS_MAX

static long slot_cost(int mux)
{
    return mux ? 1 : SLOT_SHARES;
}

/* Takes a place among the calls in progress for a call to url (one share when its origin
 * multiplexes, as *mux then says: see slot_cost), waiting (parked on a fiber) while there is
 * none. The event wakes one waiter per freed place (or when an origin turns out to multiplex); a
 * waiter that loses the place to a newcomer waits again, and the timeout is a safety net, not the
 * mechanism. Returns 1 when the call may keep its connection for reuse (always for mux: its
 * connection is shared), 0 when the outbound sockets open are already at slots_keep. */
static int slot_take(const char *url, int *mux_out)
{
    pthread_once(&slots_once, slots_init);
    char key[ORIGIN_KEY_MAX];
    if (!origin_key(url, key))
        key[0] = '\0';
    for (int waited = 0;; waited = 1) {
        pthread_mutex_lock(&slots_mu);
        int mux = *mux_out = origin_mux_locked(key);
        long cost = slot_cost(mux);
        long room = slots_max * SLOT_SHARES;
        int got = slots_used + cost <= room;
        slots_used += got ? cost : 0;
        int more = got && waited && slots_used + cost <= room; /* a raised cap: pass it on */
        int warn = !got && !slots_warned;
        slots_warned |= warn;
        long cap = slots_max, keep = slots_keep;
        pthread_mutex_unlock(&slots_mu);
        if (more)
            sched_event_signal(slot_freed);
        if (got)
            return mux || atomic_load(&out_sockets) < keep;
        if (warn)
            log_at(LL_WARN, "http",
                   "%ld outbound calls in progress, the cap for this open-file limit "
                   "(RLIMIT_NOFILE) and connection limit: further calls wait for one to finish",
                   cap);
        sched_event_wait(slot_freed, SLOT_WAIT_MS);
    }
}

/* Gives back what slot_take took (mux as it set it, or as slot_share made it). */
static void slot_give(int mux)
{
    pthread_mutex_lock(&slots_mu);
    slots_used -= slot_cost(mux);
    pthread_mutex_unlock(&slots_mu);
    sched_event_signal(slot_freed);
}

/* Turns the whole place of a call in progress into a share (*mux 0 -> 1) when its origin has
 * turned out to multiplex; the rest goes back to the waiters. */
static void slot_share(const char *url, int *mux)
{
    char key[ORIGIN_KEY_MAX];
    if (*mux || !origin_key(url, key))
        return;
    pthread_mutex_lock(&slots_mu);
    int now = origin_mux_locked(key);
    if (now)
        slots_used -= slot_cost(0) - slot_cost(1);
    pthread_mutex_unlock(&slots_mu);
    if (now) {
        *mux = 1;
        sched_event_signal(slot_freed);
    }
}

/* ---- Connections -------------------------------------------------------------------------- */

static _Thread_local struct conn *driving; /* whose task is inside curl on this thread */

/* epoll events for curl's interest what. */
static uint32_t epoll_events(int what)
{
    return ((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
}

/* Adds or updates fd in the epoll set (when there is one). */
static void epoll_mirror(struct conn *k, int fd, int what)
{
    if (k->epfd < 0)
        return;
    struct epoll_event ev = {.events = epoll_events(what), .data.fd = fd};
    if (epoll_ctl(k->epfd, EPOLL_CTL_MOD, fd, &ev) != 0 && errno == ENOENT)
        epoll_ctl(k->epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* curl's socket callback: records what curl wants to know about socket fd for transfer e (and
 * mirrors it into that call's epoll set when there is one). */
static int on_socket(CURL *e, curl_socket_t fd, int what, void *ud, void *sockp)
{
    (void)ud, (void)sockp;
    struct conn *k = NULL;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&k);
    if (!k) /* curl's own handle closing a cached connection */
        return 0;
    if (k != driving) /* another task's curl call changed what k waits on: it looks again */
        sched_event_signal(k->wake);
    size_t i = 0;
    while (i < k->n_socks && k->socks[i].fd != fd)
        i++;
    if (what == CURL_POLL_REMOVE) {
        if (i < k->n_socks)
            k->socks[i] = k->socks[--k->n_socks];
        if (k->epfd >= 0)
            epoll_ctl(k->epfd, EPOLL_CTL_DEL, fd, NULL); /* may be closed already */
        return 0;
    }
    if (i == k->n_socks) {
        if (k->n_socks == k->cap_socks) {
            k->cap_socks = k->cap_socks ? 2 * k->cap_socks : 2;
            k->socks = xrealloc(k->socks, k->cap_socks * sizeof *k->socks);
        }
        k->socks[k->n_socks++].fd = fd;
    }
    k->socks[i].what = what;
    epoll_mirror(k, fd, what);
    return 0;
}

/* Creates the epoll set of curl's sockets when curl watches several at once. Returns 0 or -1. */
static int conn_epoll(struct conn *k)
{
    if (k->epfd >= 0)
        return 0;
    k->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (k->epfd < 0) {
        log_at(LL_WARN, "http", "cannot create an epoll set: %s", strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < k->n_socks; i++)
        epoll_mirror(k, k->socks[i].fd, k->socks[i].what);
    return 0;
}

/* curl's timer callback: when to call it back without socket activity. */
static int on_timer(CURLM *m, long timeout_ms, void *ud)
{
    (void)m;
    struct driver *d = ud;
    d->deadline = timeout_ms < 0 ? -1 : clock_mono_ms() + timeout_ms;
    return 0;
}

static struct driver *driver_new(void)
{
    CURLM *m = curl_multi_init(); /* it makes a socket pair: NULL when descriptors run out */
    if (!m) {
        log_at(LL_WARN, "http", "cannot create a curl multi handle: %s", strerror(errno));
        return NULL;
    }
    struct driver *d = xcalloc(1, sizeof *d);
    d->m = m;
    d->deadline = -1;
    d->keeper_until = -1;
    dlist_init(&d->waiting);
    /* Its connection cache holds at most as many connections as it carries calls: curl's
     * default (4 per transfer added) let idle connections pile up across the multi handles, a
     * descriptor each, until the process ran out of them (slots_set_caps). A finished call past the
     * cap scans the cache for the oldest idle connection, at most 64 here. */
    curl_multi_setopt(d->m, CURLMOPT_MAXCONNECTS, (long)DRIVER_CALLS_MAX);
    curl_multi_setopt(d->m, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(d->m, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(d->m, CURLMOPT_TIMERDATA, d);
    return d;
}

static void driver_free(void *p)
{
    struct driver *d = p;
    if (!d)
        return;
    curl_multi_cleanup(d->m);
    free(d);
}

static void drivers_free(void *p)
{
    struct drivers *ds = p;
    for (size_t i = 0; i < ds->n; i++)
        driver_free(ds->v[i]);
    free(ds->v);
    free(ds);
}

static void driver_free_on_deep_stack(void *d)
{
    sched_hold_begin(); /* curl closes the cached connections: nothing in it may park */
    driver_free(d);
    sched_hold_end();
}

static pthread_once_t shared_once = PTHREAD_ONCE_INIT;
static pthread_key_t shared_key; /* a scheduler thread's drivers, freed when the thread ends */

static void shared_key_init(void)
{
    pthread_key_create(&shared_key, drivers_free);
}

/* The driver for k's next transfer: inside a scheduler task the first of its thread's shared
 * ones with room for another call (a new one when all are full), else k's own. */
static struct driver *driver_for(struct conn *k)
{
    if (!sched_in_task()) {
        if (!k->own)
            k->own = driver_new();
        return k->own;
    }
    pthread_once(&shared_once, shared_key_init);
    struct drivers *ds = pthread_getspecific(shared_key);
    if (!ds) {
        ds = xcalloc(1, sizeof *ds);
        pthread_setspecific(shared_key, ds);
    }
    for (size_t i = 0; i < ds->n; i++)
        if (ds->v[i]->calls < DRIVER_CALLS_MAX)
            return ds->v[i];
    struct driver *d = driver_new();
    if (!d)
        return NULL;
    ds->v = xrealloc(ds->v, (ds->n + 1) * sizeof *ds->v);
    ds->v[ds->n++] = d;
    return d;
}

/* Frees d, the calling scheduler thread's multi handle whose last call just ended, when it is
 * the thread's last handle and the one before it is at most half full: its idle connections are
 * closed. Calls take the first handle with room, so the last ones drain when the load falls;
 * kept, their idle connections sat unused (a thousand descriptors and more after the burst of
 * 10,000 connections at a start) while the first ones opened new connections, until the process
 * ran out of descriptors. Only the handle whose call ended is looked at, and the half-full rule
 * keeps a load at the edge of a handle from making and freeing one (and its connections) again
 * and again: trimming whatever last handle was empty at every call's end reopened a tenth of a
 * connection per call at 10,000 connections. */
static void drivers_drop(struct driver *d)
{
    struct drivers *ds = pthread_getspecific(shared_key);
    if (d->calls > 0 || !ds || ds->n < 2 || ds->v[ds->n - 1] != d ||
        ds->v[ds->n - 2]->calls > DRIVER_CALLS_MAX / 2)
        return;
    ds->n--;
    sched_call_deep(driver_free_on_deep_stack, d);
}

static void conn_free(struct conn *k)
{
    if (!k)
        return;
    curl_easy_cleanup(k->h);
    driver_free(k->own);
    sched_event_free(k->wake);
    if (k->epfd >= 0)
        close(k->epfd);
    free(k->socks);
    free(k);
}

/* Outbound sockets, counted (out_sockets) as curl opens and closes them (a connection keeps the
 * close callback of the transfer that opened it, so every close of a counted socket is counted).
 * attempt sets both on each transfer. */
static curl_socket_t on_open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    (void)ud;
    (void)purpose;
    int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    if (fd < 0)
        return CURL_SOCKET_BAD; /* curl reports a failed connect (EMFILE and the like) */
    atomic_fetch_add(&out_sockets, 1);
    return fd;
}

static int on_close_socket(void *ud, curl_socket_t fd)
{
    (void)ud;
    atomic_fetch_sub(&out_sockets, 1);
    return close(fd);
}

static struct conn *conn_new(void)
{
    struct conn *k = xcalloc(1, sizeof *k);
    k->h = curl_easy_init();
    k->epfd = -1;
    k->wake = sched_event_new();
    if (!k->h) {
        log_at(LL_ERROR, "http", "cannot create a curl transfer: %s", strerror(errno));
        abort(); /* out of memory at the bottom of every call: our OOM policy */
    }
    return k;
}

static int deliver_pending(struct xfer *x);

/* One drive of a driver: its arguments for the deep stack. */
struct drive_call {
    struct driver *d;
    struct conn *k;
    curl_socket_t fd;
    int mask;
};

static void drive_on_deep_stack(void *ud)
{
    struct drive_call *dc = ud;
    struct driver *d = dc->d;
    int running = 0, left = 0;
    if (dc->fd == CURL_SOCKET_TIMEOUT)
        d->deadline = -1; /* curl re-arms its timer if it still needs one */
    curl_multi_socket_action(d->m, dc->fd, dc->mask, &running);
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(d->m, &left))) {
        struct conn *o = NULL;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&o);
        if (!o)
            continue;
        o->done = 1;
        o->result = msg->data.result;
        if (o != dc->k)
            sched_event_signal(o->wake);
    }
}

/* Runs curl on d for socket fd (or its timer), as k's task, then records the end of every
 * transfer that ended and wakes the tasks of those that are not k's. Nothing in it may park:
 * another task of this thread would enter curl on the same multi (sched_hold_begin). curl's
 * socket action goes deep (connecting, reading and parsing a reply, our write callbacks), so it
 * runs on the loop's deep stack (sched_call_deep), not on the task's. */
static void drive(struct driver *d, struct conn *k, curl_socket_t fd, int mask)
{
    struct conn *was = driving;
    driving = k;
    struct drive_call dc = {d, k, fd, mask};
    sched_call_deep(drive_on_deep_stack, &dc); /* under the mutex rule's hold, as above */
    driving = was;
    /* curl's timer came nearer than the parked keeper's wake: it must wake for it */
    if (d->keeper && d->keeper != k && d->keeper_until >= 0 && d->deadline >= 0 &&
        d->deadline < d->keeper_until)
        sched_event_signal(d->keeper->wake);
}

/* Makes the first waiting transfer of d, if any, the keeper of curl's timer (k's is ending). */
static void keeper_hand_over(struct driver *d, struct conn *k)
{
    if (d->keeper != k)
        return;
    d->keeper = NULL;
    d->keeper_until = -1;
    if (!dlist_is_empty(&d->waiting)) {
        d->keeper = dlist_entry(d->waiting.next, struct conn, link);
        sched_event_signal(d->keeper->wake); /* it parked as any waiter: it parks again */
    }
}

/* Runs the transfer set up on k->h to its end, parking the task (or blocking the thread) on the
 * sockets and k's wake event. Of the transfers of one multi handle one task, the keeper, also
 * parks until curl's timer and runs it for all (its end is recorded for each transfer it ends,
 * and their tasks woken, as for any drive); the others park on their sockets alone. When each
 * waited for the multi handle's timer, every timer of any of its 64 calls woke all of them: 3.6
 * of a model call's 5 parks ended by a timeout, each one two epoll_ctl calls and a curl timer
 * action. The keeper's wake is signalled when curl's timer comes nearer than the keeper's
 * park (drive), a waiter's when another task's curl call changed its sockets (on_socket), and
 * the first waiter's when the keeper's transfer ends (keeper_hand_over). A task about to park
 * takes the timer over from a keeper that is not parked here (one whose receiver makes a call of
 * its own, say, or one that woke and has not parked again: the loop runs one task at a time, so
 * that is the task itself). Returns the transfer's curl code. */
static CURLcode conn_perform(struct conn *k)
{
    struct driver *d = driver_for(k);
    if (!d)
        return CURLE_COULDNT_CONNECT; /* out of descriptors, as a connect would be */
    k->done = 0;
    k->result = CURLE_OK;
    curl_easy_setopt(k->h, CURLOPT_PRIVATE, (void *)k);
    sched_hold_begin();
    CURLMcode mc = curl_multi_add_handle(d->m, k->h);
    sched_hold_end();
    if (mc != CURLM_OK)
        return CURLE_FAILED_INIT;
    d->calls++;
    dlist_push_tail(&d->waiting, &k->link);
    drive(d, k, CURL_SOCKET_TIMEOUT, 0);
    while (!k->done) {
        if (deliver_pending(k->x) != 0) { /* the receiver stopped: end the transfer */
            k->result = CURLE_WRITE_ERROR;
            break;
        }
        if (!d->keeper || d->keeper_until < 0) /* none, or it is busy or parked elsewhere */
            d->keeper = k;
        int64_t now = clock_mono_ms();
        long wait = IDLE_WAIT_MS;
        if (d->keeper == k) {
            wait = d->deadline < 0 ? WAIT_SLICE_MS : (long)(d->deadline - now);
            if (wait < 0)
                wait = 0;
            if (wait > WAIT_SLICE_MS)
                wait = WAIT_SLICE_MS;
            d->keeper_until = now + wait;
        }
        int n = 0, signalled = 0;
        if (k->n_socks == 1) { /* the usual case: wait on the socket itself */
            struct sock one = k->socks[0];
            short events = (short)(((one.what & CURL_POLL_IN) ? POLLIN : 0) |
                                   ((one.what & CURL_POLL_OUT) ? POLLOUT : 0));
            int r = sched_wait_fd_event(one.fd, events, k->wake, (int)wait, &signalled);
            if (r > 0) {
                int mask = ((r & POLLIN) ? CURL_CSELECT_IN : 0) |
                           ((r & POLLOUT) ? CURL_CSELECT_OUT : 0) |
                           ((r & (POLLERR | POLLHUP)) ? CURL_CSELECT_ERR : 0);
                drive(d, k, one.fd, mask);
                n = 1;
            } else if (r < 0) {
                sched_sleep_ms(wait); /* not expected: keep to curl's timer rather than spin */
            }
        } else if (k->n_socks > 1 && conn_epoll(k) == 0) {
            int r = sched_wait_fd_event(k->epfd, POLLIN, k->wake, (int)wait, &signalled);
            struct epoll_event evs[8];
            n = r > 0 ? epoll_wait(k->epfd, evs, 8, 0) : 0;
            for (int i = 0; i < n; i++) {
                int mask = ((evs[i].events & EPOLLIN) ? CURL_CSELECT_IN : 0) |
                           ((evs[i].events & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
                           ((evs[i].events & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0);
                drive(d, k, evs[i].data.fd, mask);
            }
        } else { /* no socket yet (or no epoll set): curl's timer or our wake */
            signalled = sched_event_wait(k->wake, (int)wait);
        }
        if (d->keeper == k)
            d->keeper_until = -1;
        if (k->done || signalled)
            continue;
        if (n <= 0 || (d->deadline >= 0 && clock_mono_ms() >= d->deadline))
            drive(d, k, CURL_SOCKET_TIMEOUT, 0);
    }
    dlist_unlink(&k->link);
    keeper_hand_over(d, k);
    if (k->done && deliver_pending(k->x) != 0 && k->result == CURLE_OK)
        k->result = CURLE_WRITE_ERROR; /* the last bytes, kept by another task */
    sched_hold_begin();
    curl_multi_remove_handle(d->m, k->h);
    sched_hold_end();
    d->calls--;
    k->n_socks = 0;
    sched_event_wait(k->wake, 0); /* a signal that came with the end is consumed here */
    if (d != k->own)
        drivers_drop(d);
    return k->result;
}

/* ---- Lifecycle ------------------------------------------------------------------------------ */

struct http_client *http_client_new(const struct http_client_config *cfg)
{
    pthread_once(&global_once, global_init);
    struct http_client *c = xcalloc(1, sizeof *c);
    if (cfg)
        c->cfg = *cfg;
    if (c->cfg.connect_timeout_ms <= 0)
        c->cfg.connect_timeout_ms = 5000;
    if (c->cfg.timeout_ms <= 0)
        c->cfg.timeout_ms = 30000;
    if (c->cfg.max_response_bytes == 0)
        c->cfg.max_response_bytes = 8u << 20;
    if (c->cfg.max_retries == 0)
        c->cfg.max_retries = 2;
    else if (c->cfg.max_retries < 0)
        c->cfg.max_retries = 0;
    if (c->cfg.backoff_base_ms <= 0)
        c->cfg.backoff_base_ms = 200;
    if (c->cfg.backoff_max_ms <= 0)
        c->cfg.backoff_max_ms = 5000;
    if (c->cfg.max_idle_handles == 0)
        c->cfg.max_idle_handles = 8;
    pthread_mutex_init(&c->mu, NULL);
    c->idle = xcalloc(c->cfg.max_idle_handles, sizeof *c->idle);
    return c;
}

void http_client_free(struct http_client *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_idle; i++)
        conn_free(c->idle[i]);
    free(c->idle);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static struct conn *conn_get(struct http_client *c)
{
    struct conn *k = NULL;
    pthread_mutex_lock(&c->mu);
    if (c->n_idle > 0)
        k = c->idle[--c->n_idle];
    pthread_mutex_unlock(&c->mu);
    if (!k)
        k = conn_new();
    else
        curl_easy_reset(k->h); /* the multi keeps the live connections */
    return k;
}

static void conn_put(struct http_client *c, struct conn *k)
{
    if (!k)
        return;
    pthread_mutex_lock(&c->mu);
    if (c->n_idle < c->cfg.max_idle_handles) {
        c->idle[c->n_idle++] = k;
        k = NULL;
    }
    pthread_mutex_unlock(&c->mu);
    conn_free(k);
}

/* ---- Responses ------------------------------------------------------------------------------ */

const char *http_client_header(const struct http_client_response *r, const char *name)
{
    for (size_t i = 0; r && i < r->n_headers; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

static void headers_clear(struct http_client_response *r)
{
    for (size_t i = 0; i < r->n_headers; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    free(r->headers);
    r->headers = NULL;
    r->n_headers = 0;
}

void http_client_response_release(struct http_client_response *resp)
{
    if (!resp)
        return;
    headers_clear(resp);
    free(resp->body);
    memset(resp, 0, sizeof *resp);
}

int http_client_retryable_status(long status)
{
    return status == 429 || (status >= 500 && status <= 599 && status != 501);
}

/* ---- Backoff -------------------------------------------------------------------------------- */

long http_client_backoff_ms(int attempt, long base_ms, long max_ms)
{
    struct backoff b = {.base_ms = base_ms, .max_ms = max_ms, .jitter = BACKOFF_JITTER_EQUAL};
    return backoff_delay_ms(&b, attempt);
}

/* Reads retry-after-ms or Retry-After (seconds or HTTP-date); returns milliseconds or -1. */
static long retry_after_ms(const struct http_client_response *r)
{
    const char *v = http_client_header(r, "retry-after-ms");
    if (v) {
        char *end;
        double ms = strtod(v, &end);
        if (end != v && ms >= 0)
            return (long)ms;
    }
    return backoff_retry_after_ms(http_client_header(r, "retry-after"), time(NULL));
}

/* ---- One attempt ---------------------------------------------------------------------------- */

struct xfer {
    CURL *h; /* the easy handle */
    const struct http_client_request *req;
    struct http_client_response *resp; /* filled */
    size_t cap;                        /* body cap */
    struct buf body;     /* the buffered body; moved to resp->body after the attempt */
    size_t header_bytes; /* header bytes seen, capped */
    int too_large;       /* the cap was hit */
    int aborted;         /* on_data asked to stop */
    int streaming;       /* decided at the first body byte */
    int decided;         /* streaming decided */
    struct buf pending;  /* streamed bytes not yet handed to on_data */
    struct conn *k;      /* the call's connection handle */
};

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nmemb;
    x->header_bytes += n;
    if (x->header_bytes > HEADER_BYTES_MAX) {
        x->too_large = 1;
        return 0;
    }
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        headers_clear(x->resp); /* a new response (after 100-continue, say) */
        return n;
    }
    const char *colon = memchr(data, ':', n);
    if (!colon || x->resp->n_headers >= HEADERS_MAX)
        return n;
    const char *v = colon + 1, *end = data + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    struct http_client_response *r = x->resp;
    r->headers = xrealloc(r->headers, (r->n_headers + 1) * sizeof *r->headers);
    r->headers[r->n_headers].name = xstrndup(data, (size_t)(colon - data));
    r->headers[r->n_headers].value = xstrndup(v, (size_t)(end - v));
    r->n_headers++;
    return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nmemb;
    struct http_client_response *r = x->resp;
    if (!x->decided) {
        long status = 0;
        curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
        x->streaming = x->req->on_data && status >= 200 && status < 300;
        x->decided = 1;
    }
    if (x->body.len + r->streamed + x->pending.len + n > x->cap) {
        x->too_large = 1;
        return 0;
    }
    if (x->streaming) {
        /* on_data runs outside curl, in the call's own task (conn_perform hands the bytes over
         * after curl returns): it may make a call of its own (an MCP answer mid-stream), and on
         * a shared multi the task running curl now may be another one (then wake ours). */
        if (buf_add(&x->pending, data, n) < 0) {
            x->too_large = 1;
            return 0;
        }
        if (!driving || driving->x != x)
            sched_event_signal(x->k->wake);
        return n;
    }
    if (buf_add(&x->body, data, n) < 0) {
        x->too_large = 1; /* not reached: the check above is stricter */
        return 0;
    }
    return n;
}

/* Hands the streamed bytes kept for x to its receiver, outside curl. Returns 0, or -1 when the
 * receiver stopped the transfer (x->aborted). */
static int deliver_pending(struct xfer *x)
{
    if (!x || x->pending.len == 0 || x->aborted)
        return x && x->aborted ? -1 : 0;
    size_t n = x->pending.len;
    x->resp->streamed += n;
    int rc = x->req->on_data(x->req->ud, x->pending.data, n);
    buf_reset(&x->pending);
    if (rc != 0)
        x->aborted = 1;
    return rc != 0 ? -1 : 0;
}

/* curl's callback once a transfer has its connection (TLS done), before its request goes: a
 * call to an origin that turned out to multiplex holds only a share of a place from now on. It
 * runs inside curl, possibly for another task's curl call, on our thread: no parking. */
static int on_prereq(void *ud, char *primary_ip, char *local_ip, int primary_port, int local_port)
{
    (void)primary_ip, (void)local_ip, (void)primary_port, (void)local_port;
    struct xfer *x = ud;
    slot_share(x->req->url, &x->k->mux);
    return CURL_PREREQFUNC_OK;
}

/* Runs one attempt. Returns the curl code; resp holds status, headers and body. */
static CURLcode attempt(struct http_client *c, struct conn *k,
                        const struct http_client_request *req, struct http_client_response *resp,
                        struct xfer *x)
{
    CURL *h = k->h;
    struct curl_slist *hl = NULL;
    for (size_t i = 0; i < req->n_headers; i++)
        if (req->headers[i])
            hl = curl_slist_append(hl, req->headers[i]);
    hl = curl_slist_append(hl, "Expect:"); /* no 100-continue round trip */
    memset(x, 0, sizeof *x);
    x->h = h;
    x->req = req;
    x->resp = resp;
    x->cap = c->cfg.max_response_bytes;
    x->k = k;
    buf_init(&x->body, x->cap);
    buf_init(&x->pending, x->cap);
    k->x = x;

    curl_easy_setopt(h, CURLOPT_URL, req->url);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
    curl_easy_setopt(h, CURLOPT_FORBID_REUSE, k->keep ? 0L : 1L);
    /* an https call waits for a connection that may multiplex (its TLS handshake says) rather
     * than opening one of its own; curl asks for HTTP/2 over TLS by default */
    int https = url_is_https(req->url);
    curl_easy_setopt(h, CURLOPT_PIPEWAIT, https ? 1L : 0L);
    if (https) { /* an origin is learnt at the handshake; a call's place shrinks at its start */
        curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
        curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, (void *)req->url);
        curl_easy_setopt(h, CURLOPT_PREREQFUNCTION, on_prereq);
        curl_easy_setopt(h, CURLOPT_PREREQDATA, x);
    }
    /* A CA bundle named the way curl and OpenSSL tools read it: Debian's libcurl looks in its own
     * path, which Amazon Linux (the Lambda runtime) does not have. */
    const char *ca = config_env("CURL_CA_BUNDLE");
    if (!ca)
        ca = config_env("SSL_CERT_FILE");
    if (ca)
        curl_easy_setopt(h, CURLOPT_CAINFO, ca);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L); /* send the path we signed */
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->cfg.connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
                     req->timeout_ms > 0 ? req->timeout_ms : c->cfg.timeout_ms);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, ""); /* gzip etc. when offered */
    if (c->cfg.recv_buffer_bytes > 0)
        curl_easy_setopt(h, CURLOPT_BUFFERSIZE, c->cfg.recv_buffer_bytes);
    const char *m = req->method ? req->method : "GET";
    if (req->body || strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        if (strcmp(m, "POST") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
    } else if (strcmp(m, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(m, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
    }
    int injected = fault_check(FAULT_HTTP); /* a test's reset or truncated body */
    CURLcode cc = injected ? (CURLcode)injected : conn_perform(k);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    long version = 0;
    if (resp->status > 0 && curl_easy_getinfo(h, CURLINFO_HTTP_VERSION, &version) == CURLE_OK)
        origin_learn(req->url, version >= CURL_HTTP_VERSION_2_0);
    if (x->body.data) /* a body that never started stays NULL */
        resp->body = buf_take(&x->body, &resp->body_len);
    curl_slist_free_all(hl);
    buf_release(&x->pending);
    k->x = NULL;
    return cc;
}

static int transport_retryable(CURLcode cc)
{
    return cc == CURLE_OPERATION_TIMEDOUT || cc == CURLE_COULDNT_CONNECT ||
           cc == CURLE_GOT_NOTHING || cc == CURLE_RECV_ERROR || cc == CURLE_SEND_ERROR ||
           cc == CURLE_PARTIAL_FILE;
}

/* ---- Calls ---------------------------------------------------------------------------------- */

int http_client_do(struct http_client *c, const struct http_client_request *req,
                   struct http_client_response *resp, struct err *err)
{
    int rc = -1;
    memset(resp, 0, sizeof *resp);
    if (!req || !req->url) {
        err_set(err, "HttpError", "no URL given");
        return -1;
    }
    int retries = req->max_retries < 0 ? c->cfg.max_retries : req->max_retries;
    int mux;
    int keep = slot_take(req->url, &mux);
    struct conn *k = conn_get(c);
    k->keep = keep;
    k->mux = mux;
    struct backoff bo = {.base_ms = c->cfg.backoff_base_ms,
                         .max_ms = c->cfg.backoff_max_ms,
                         .jitter = BACKOFF_JITTER_EQUAL};
    for (int n = 0;; n++) {
        struct xfer x;
        headers_clear(resp);
        free(resp->body);
        resp->body = NULL;
        resp->body_len = 0;
        resp->status = 0;
        resp->attempts = n + 1;
        CURLcode cc = attempt(c, k, req, resp, &x);
        int can_retry = n < retries && resp->streamed == 0;
        if (cc == CURLE_OK) {
            int again = req->retry_if ? req->retry_if(req->retry_ud, resp)
                                      : http_client_retryable_status(resp->status);
            if (!again || !can_retry) {
                rc = 0;
                err_clear(err);
                break;
            }
            long wait = backoff_wait_ms(&bo, n + 1, retry_after_ms(resp));
            log_at(LL_INFO, "http", "retrying '%s' after status %ld in %ld ms", req->url,
                   resp->status, wait);
            sched_sleep_ms(wait);
            continue;
        }
        if (x.too_large) {
            err_set(err, "HttpTooLarge", "response from '%s' exceeds %zu bytes", req->url,
                    c->cfg.max_response_bytes);
            break;
        }
        if (x.aborted) {
            err_set(err, "HttpAborted", "transfer from '%s' stopped by the receiver", req->url);
            break;
        }
        if (transport_retryable(cc) && can_retry) {
            long wait = backoff_delay_ms(&bo, n + 1);
            log_at(LL_INFO, "http", "retrying '%s' after %s in %ld ms", req->url,
                   curl_easy_strerror(cc), wait);
            sched_sleep_ms(wait);
            continue;
        }
        if (cc == CURLE_OPERATION_TIMEDOUT)
            err_set(err, "HttpTimeout", "'%s' timed out after %d attempt(s)", req->url, n + 1);
        else if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST)
            err_set(err, "HttpConnect", "cannot connect to '%s': %s", req->url,
                    curl_easy_strerror(cc));
        else
            err_set(err, "HttpError", "request to '%s' failed: %s", req->url,
                    curl_easy_strerror(cc));
        break;
    }
    mux = k->mux; /* on_prereq may have made the place a share */
    conn_put(c, k);
    slot_give(mux);
    return rc;
}
