/*
 * dlist.h - one intrusive doubly linked list: the owner embeds a struct dlist as the list's head,
 * each element embeds a struct dlist as its link, and dlist_entry() gets the element back from
 * its link. Nothing is allocated, so no operation fails; every one is O(1).
 *
 * The head is a sentinel that must be dlist_init()ed before use: an empty list points at itself.
 * A link that is on no list has both pointers NULL, so an element that comes from xcalloc (or
 * `= {0}`) is ready as it is, and dlist_unlink() leaves its link so again; unlinking a link that
 * is on no list does nothing. A link is on at most one list at a time. Not thread-safe: the
 * owner's lock, if any, guards the head and every link on it.
 */
#ifndef PARLEY_DLIST_H
#define PARLEY_DLIST_H

#include <stddef.h>

struct dlist {
    struct dlist *prev; /* a link: the one before, or the head; the head: the last link */
    struct dlist *next; /* a link: the one after, or the head; the head: the first link */
};

/* The element of type type whose member member is the link node, or NULL when node is NULL. */
#define dlist_entry(node, type, member) ((type *)dlist__base((node), offsetof(type, member)))

/* Visits every link of head from first to last as node (a struct dlist *). The body must not
 * unlink node; dlist_foreach_safe() allows that (tmp is a second struct dlist * it uses). */
#define dlist_foreach(node, head)                                                                  \
    for ((node) = (head)->next; (node) != (head); (node) = (node)->next)
#define dlist_foreach_safe(node, tmp, head)                                                        \
    for ((node) = (head)->next, (tmp) = (node)->next; (node) != (head);                            \
         (node) = (tmp), (tmp) = (node)->next)

/* ---- The head ------------------------------------------------------------------------------ */

/* Makes head an empty list. A head holds nothing to release: drop it once it is empty (or once
 * its elements are freed). */
void dlist_init(struct dlist *head);

/* Returns 1 when head holds no link, else 0. */
int dlist_is_empty(const struct dlist *head);

/* ---- Linking ------------------------------------------------------------------------------- */
/* node must be on no list (a list the caller forgot to unlink it from would be corrupted). */

/* Puts node first on head. */
void dlist_push_head(struct dlist *head, struct dlist *node);

/* Puts node last on head. */
void dlist_push_tail(struct dlist *head, struct dlist *node);

/* Puts node right after pos, which is a link on a list or that list's head (node then becomes
 * its first link). */
void dlist_insert_after(struct dlist *pos, struct dlist *node);

/* Takes node off its list and leaves it on none; a node on no list is left as it is. */
void dlist_unlink(struct dlist *node);

/* Puts node first on head, taking it off the list it is on, if any (e.g. head itself). */
void dlist_move_head(struct dlist *head, struct dlist *node);

/* Returns 1 when node is on a list, else 0. */
int dlist_is_linked(const struct dlist *node);

/* ---- Walking ------------------------------------------------------------------------------- */
/* Each returns a link of head (borrowed), or NULL when there is none: an empty list, or past
 * either end. node must be a link on head. */

struct dlist *dlist_first(const struct dlist *head);
struct dlist *dlist_last(const struct dlist *head);
struct dlist *dlist_next(const struct dlist *head, const struct dlist *node);
struct dlist *dlist_prev(const struct dlist *head, const struct dlist *node);

/* For dlist_entry(): the address offset bytes before node, or NULL for NULL. */
static inline void *dlist__base(struct dlist *node, size_t offset)
{
    return node ? (void *)((char *)node - offset) : NULL;
}

#endif
