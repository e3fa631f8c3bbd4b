/* fault.c - the fault-injection switchboard; see fault.h. */
#include "base/fault.h"

#include <pthread.h>

int fault__armed;

static struct {
    long nth;      /* the hit that fails first (0: disarmed) */
    long hits;     /* hits since armed */
    long injected; /* faults returned since armed */
    int code;      /* what the site fails with */
    int sticky;    /* every hit after nth fails too */
} sites[FAULT_SITES];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

/* Recomputes fault__armed; call with mu held. */
static void update_armed(void)
{
    int any = 0;
    for (int i = 0; i < FAULT_SITES; i++)
        any |= sites[i].nth > 0;
    __atomic_store_n(&fault__armed, any, __ATOMIC_RELEASE);
}

void fault_arm(enum fault_site site, long nth, int code, int sticky)
{
    pthread_mutex_lock(&mu);
    sites[site].nth = code ? nth : 0;
    sites[site].code = code;
    sites[site].sticky = sticky;
    sites[site].hits = 0;
    sites[site].injected = 0;
    update_armed();
    pthread_mutex_unlock(&mu);
}

void fault_disarm_all(void)
{
    pthread_mutex_lock(&mu);
    for (int i = 0; i < FAULT_SITES; i++)
        sites[i].nth = 0;
    update_armed();
    pthread_mutex_unlock(&mu);
}

long fault_hits(enum fault_site site)
{
    pthread_mutex_lock(&mu);
    long n = sites[site].hits;
    pthread_mutex_unlock(&mu);
    return n;
}

long fault_injected(enum fault_site site)
{
    pthread_mutex_lock(&mu);
    long n = sites[site].injected;
    pthread_mutex_unlock(&mu);
    return n;
}

int fault__fire(enum fault_site site)
{
    int rc = 0;
    pthread_mutex_lock(&mu);
    if (sites[site].nth > 0) {
        long h = ++sites[site].hits;
        if (h == sites[site].nth || (sites[site].sticky && h > sites[site].nth)) {
            rc = sites[site].code;
            sites[site].injected++;
        }
    }
    pthread_mutex_unlock(&mu);
    return rc;
}
