/*
 * kb_md.h - the knowledge base's articles: reads every `*.md` file under a directory and splits
 * each into titled passages (the format is described in kb.h). kb.c indexes what this reads.
 */
#ifndef PARLEY_KB_MD_H
#define PARLEY_KB_MD_H

#include <stddef.h>

#include "base/err.h"

struct kb_md_article {
    char *name;  /* path relative to the kb root, e.g. "refunds.md" */
    char *title; /* first "# " heading, or the name */
};

struct kb_md_passage {
    size_t article; /* index into articles */
    char *section;  /* nearest "##"/"###" heading, "" if none */
    char *text;     /* the paragraph, Markdown as written (wrapped lines joined) */
};

/* Articles in file-name order and their passages in file order. */
struct kb_md {
    struct kb_md_article *articles;
    size_t n_articles;
    struct kb_md_passage *passages;
    size_t n_passages, cap_passages;
};

/* Reads the articles under root into md (caller-embedded; kb_md_release). Returns 0, or -1 with
 * md empty and err: "KbLoadFailed" naming the path when the directory or a file cannot be read, a
 * file exceeds KB_MAX_FILE_BYTES or is not UTF-8 text (naming the line too), or there are more
 * than KB_MAX_FILES articles; "KbEmpty" when no article has text. */
int kb_md_load(struct kb_md *md, const char *root, struct err *err);

/* Frees what md holds and leaves it empty. */
void kb_md_release(struct kb_md *md);

#endif
