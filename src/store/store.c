/*
 * store.c - what the store port does the same way for every adapter: no card number reaches an
 * adapter's write (PCI DSS: none at rest, in the SQLite WAL or in DynamoDB), and counter names
 * are checked before any adapter sees them; and the form of a ticket id, which both adapters
 * write and parse. See store.h.
 */
#include "store/store.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/guard.h"

/* v with every Luhn-valid card number replaced by "[card ending NNNN]": a masked copy, or v
 * itself (a new reference, unchanged) when no string in it has the digits of a card. */
static json_t *masked(const json_t *v)
{
    if (!guard_cards_possible_json(v))
        return json_incref((json_t *)v);
    json_t *copy = json_deep_copy(v);
    guard_mask_cards_json(copy);
    return copy;
}

json_t *store_messages_parse(const char *text, size_t len, struct err *err)
{
    json_t *msgs = json_loadb(text, len, 0, NULL);
    if (json_is_array(msgs))
        return msgs;
    json_decref(msgs);
    err_set(err, "StoreError", "stored turn holds malformed messages");
    return NULL;
}

int store_turn_save(struct store *s, const json_t *turn, int *turn_no, struct err *err)
{
    return store_turn_save_counted(s, turn, turn_no, NULL, err);
}

int store_ticket_create(struct store *s, const json_t *fields, json_t **out, struct err *err)
{
    assert(s);
    assert(out);
    json_t *m = masked(fields);
    int rc = s->ops->ticket_create(s, m, out, err);
    json_decref(m);
    return rc;
}

int store_action_put(struct store *s, const json_t *action, struct err *err)
{
    assert(s);
    json_t *m = masked(action);
    int rc = s->ops->action_put(s, m, err);
    json_decref(m);
    return rc;
}

int store_idem_finish(struct store *s, const char *key, const json_t *response, struct err *err)
{
    assert(s);
    json_t *m = masked(response);
    int rc = s->ops->idem_finish(s, key, m, err);
    json_decref(m);
    return rc;
}

/* Returns 0 when what (a counter's group or name) is usable, else -1 with "InvalidRequest". */
static int counter_name_ok(const char *what, const char *v, struct err *err)
{
    if (!v || !v[0])
        return err_set(err, "InvalidRequest", "counter %s is empty", what);
    if (strlen(v) > STORE_COUNTER_NAME_MAX)
        return err_set(err, "InvalidRequest", "counter %s is longer than %d bytes", what,
                       STORE_COUNTER_NAME_MAX);
    return 0;
}

/* Returns 0 when the turn's "counters" (if any) are well formed, else -1 with "InvalidRequest". */
static int turn_counters_ok(const json_t *turn, struct err *err)
{
    const json_t *list = json_object_get(turn, "counters");
    size_t i;
    const json_t *c;
    if (!list)
        return 0;
    if (!json_is_array(list))
        return err_set(err, "InvalidRequest", "a turn's counters must be an array");
    json_array_foreach(list, i, c) {
        if (counter_name_ok("group", json_string_value(json_object_get(c, "group")), err) < 0 ||
            counter_name_ok("name", json_string_value(json_object_get(c, "name")), err) < 0)
            return -1;
        if (!json_is_integer(json_object_get(c, "delta")))
            return err_set(err, "InvalidRequest", "counter %zu of the turn has no integer delta",
                           i);
    }
    return 0;
}

int store_turn_save_counted(struct store *s, const json_t *turn, int *turn_no, long long *counted,
                            struct err *err)
{
    assert(s);
    assert(turn_no);
    if (turn_counters_ok(turn, err) < 0)
        return -1;
    json_t *m = masked(turn);
    /* Counter names as given (a counter is not customer text); a copy only: m may be turn. */
    if (m != turn && json_object_get(turn, "counters"))
        json_object_set(m, "counters", json_object_get(turn, "counters"));
    int rc = s->ops->turn_save(s, m, turn_no, counted, err);
    json_decref(m);
    return rc;
}

int store_counter_add(struct store *s, const char *group, const char *name, long long delta,
                      long long expires_ms, long long *value, struct err *err)
{
    assert(s && value);
    if (counter_name_ok("group", group, err) < 0 || counter_name_ok("name", name, err) < 0)
        return -1;
    return s->ops->counter_add(s, group, name, delta, expires_ms, value, err);
}

int store_counter_get(struct store *s, const char *group, const char *name, long long *value,
                      struct err *err)
{
    assert(s && value);
    if (counter_name_ok("group", group, err) < 0 || counter_name_ok("name", name, err) < 0)
        return -1;
    return s->ops->counter_get(s, group, name, value, err);
}

int store_counters_list(struct store *s, const char *group, json_t **out, struct err *err)
{
    assert(s && out);
    if (counter_name_ok("group", group, err) < 0)
        return -1;
    return s->ops->counters_list(s, group, out, err);
}

long long store__ticket_seq(const char *id)
{
    if (strncasecmp(id, "TKT-", 4) != 0)
        return -1;
    const char *p = id + 4;
    size_t n = strlen(p);
    if (n == 0 || n > 12)
        return -1;
    long long v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v;
}

void store__ticket_id(long long seq, char id[STORE_TICKET_ID_MAX])
{
    snprintf(id, STORE_TICKET_ID_MAX, "TKT-%06lld", seq);
}
