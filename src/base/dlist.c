/* dlist.c - the intrusive doubly linked list; see dlist.h. The head is a sentinel, so linking
 * and unlinking never test for an end of the list. */
#include "base/dlist.h"

void dlist_init(struct dlist *head)
{
    head->prev = head;
    head->next = head;
}

int dlist_is_empty(const struct dlist *head)
{
    return head->next == head;
}

void dlist_insert_after(struct dlist *pos, struct dlist *node)
{
    node->prev = pos;
    node->next = pos->next;
    pos->next->prev = node;
    pos->next = node;
}

void dlist_push_head(struct dlist *head, struct dlist *node)
{
    dlist_insert_after(head, node);
}

void dlist_push_tail(struct dlist *head, struct dlist *node)
{
    dlist_insert_after(head->prev, node);
}

void dlist_unlink(struct dlist *node)
{
    if (!node->next)
        return;
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->prev = NULL;
    node->next = NULL;
}

void dlist_move_head(struct dlist *head, struct dlist *node)
{
    dlist_unlink(node);
    dlist_insert_after(head, node);
}

int dlist_is_linked(const struct dlist *node)
{
    return node->next != NULL;
}

struct dlist *dlist_first(const struct dlist *head)
{
    return head->next != head ? head->next : NULL;
}

struct dlist *dlist_last(const struct dlist *head)
{
    return head->prev != head ? head->prev : NULL;
}

struct dlist *dlist_next(const struct dlist *head, const struct dlist *node)
{
    return node->next != head ? node->next : NULL;
}

struct dlist *dlist_prev(const struct dlist *head, const struct dlist *node)
{
    return node->prev != head ? node->prev : NULL;
}
