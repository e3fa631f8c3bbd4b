/*
 * kb_md.c - reads a knowledge base's Markdown articles and splits them into titled passages; see
 * kb_md.h (and kb.h for the format).
 */
#include "agent/kb_md.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/kb.h"
#include "base/buf.h"
#include "base/utf8.h"
#include "base/xmalloc.h"

/* Paragraphs shorter than this join the next paragraph of their section. */
#define MIN_PASSAGE_CHARS 80

/* ------------------------------------------------------------------------------------------------
 * Markdown parsing
 * --------------------------------------------------------------------------------------------- */

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

static void add_passage(struct kb_md *md, size_t article, const char *section, const char *text)
{
    if (md->n_passages == md->cap_passages) {
        md->cap_passages = md->cap_passages ? md->cap_passages * 2 : 64;
        md->passages = xrealloc(md->passages, md->cap_passages * sizeof md->passages[0]);
    }
    struct kb_md_passage *p = &md->passages[md->n_passages++];
    p->article = article;
    p->section = xstrdup(section);
    p->text = xstrdup(text);
}

/* 1 when line starts a Markdown list item: "- ", "* ", "1. " or "1) " (a wrapped line that merely
 * starts with a number, like "16:00 on Saturdays", is not one). */
static int is_list_item(const char *line)
{
    if ((line[0] == '-' || line[0] == '*') && line[1] == ' ')
        return 1;
    size_t d = 0;
    while (d < 9 && isdigit((unsigned char)line[d]))
        d++;
    return d > 0 && (line[d] == '.' || line[d] == ')') && line[d + 1] == ' ';
}

/* Appends line to the paragraph buffer, joining wrapped lines with a space and list items with a
 * newline. */
static void para_append(struct buf *para, const char *line)
{
    if (para->len > 0)
        buf_add_char(para, is_list_item(line) ? '\n' : ' ');
    buf_add_str(para, line);
}

/* Splits one article's text (NUL-terminated, modified in place) into passages. */
static void parse_article(struct kb_md *md, size_t ai, char *text)
{
    char *section = xstrdup("");
    struct buf para; /* joins lines, each in place of its '\n': never longer than text */
    buf_init(&para, strlen(text) + 1);
    int in_code = 0;
    char *line = text;
    while (line) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        char *t = trim(line);
        line = nl ? nl + 1 : NULL;
        int fence = strncmp(t, "```", 3) == 0;
        if (fence) {
            in_code = !in_code;
            continue;
        }
        int heading = !in_code && t[0] == '#';
        int blank = t[0] == '\0';
        /* a paragraph ends at a blank line or a heading; short ones wait for the next */
        if ((heading || blank) && para.len > 0 && (heading || para.len >= MIN_PASSAGE_CHARS)) {
            add_passage(md, ai, section, buf_str(&para));
            buf_reset(&para);
        }
        if (heading) {
            const char *h = t;
            int level = 0;
            while (*h == '#') {
                h++;
                level++;
            }
            h = trim((char *)h);
            if (level == 1) {
                if (strcmp(md->articles[ai].title, md->articles[ai].name) == 0) {
                    free(md->articles[ai].title);
                    md->articles[ai].title = xstrdup(h);
                }
            } else {
                free(section);
                section = xstrdup(h);
            }
            continue;
        }
        if (!blank)
            para_append(&para, t);
    }
    if (para.len > 0)
        add_passage(md, ai, section, buf_str(&para));
    buf_release(&para);
    free(section);
}

static int read_file(const char *path, char **out, size_t *len, struct err *err)
{
    int rc = -1;
    char *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        err_set(err, "KbLoadFailed", "cannot open '%s': %s", path, strerror(errno));
        goto out;
    }
    buf = xmalloc(KB_MAX_FILE_BYTES + 1);
    size_t n = fread(buf, 1, KB_MAX_FILE_BYTES + 1, f);
    if (ferror(f)) {
        err_set(err, "KbLoadFailed", "cannot read '%s'", path);
        goto out;
    }
    if (n > KB_MAX_FILE_BYTES) {
        err_set(err, "KbLoadFailed", "'%s' is larger than %d bytes", path, KB_MAX_FILE_BYTES);
        goto out;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    buf = NULL;
    rc = 0;
out:
    if (f)
        fclose(f);
    free(buf);
    return rc;
}

/* Fails with a message naming path and the line of the first byte that is not UTF-8 text (an
 * invalid sequence, or a NUL that would silently end the article). Returns 0 or -1. */
static int check_text(const char *path, const char *raw, size_t len, struct err *err)
{
    long bad = utf8_invalid_at(raw, len);
    const char *nul = memchr(raw, '\0', len);
    if (nul && (bad < 0 || nul - raw < bad))
        bad = nul - raw;
    if (bad < 0)
        return 0;
    int line = 1;
    for (long i = 0; i < bad; i++)
        line += raw[i] == '\n';
    return err_set(err, "KbLoadFailed", "'%s' line %d: %s", path, line,
                   raw[bad] == '\0' ? "NUL byte in the text" : "not valid UTF-8");
}

/* ------------------------------------------------------------------------------------------------
 * Loading
 * --------------------------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

struct name_list {
    size_t n, cap;
    char **v; /* relative paths */
};

static void names_push(struct name_list *nl, char *name)
{
    if (nl->n == nl->cap) {
        nl->cap = nl->cap ? nl->cap * 2 : 32;
        nl->v = xrealloc(nl->v, nl->cap * sizeof nl->v[0]);
    }
    nl->v[nl->n++] = name;
}

/* Collects *.md paths under root/rel (rel "" for the root). */
static int collect(const char *root, const char *rel, int depth, struct name_list *nl,
                   struct err *err)
{
    int rc = -1;
    char *dirpath = rel[0] ? xasprintf("%s/%s", root, rel) : xstrdup(root);
    DIR *d = opendir(dirpath);
    if (!d) {
        err_set(err, "KbLoadFailed", "cannot open knowledge base directory '%s': %s", dirpath,
                strerror(errno));
        goto out;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char *relname = rel[0] ? xasprintf("%s/%s", rel, de->d_name) : xstrdup(de->d_name);
        char *full = xasprintf("%s/%s", root, relname);
        struct stat st;
        int ok = stat(full, &st) == 0;
        free(full);
        size_t l = strlen(de->d_name);
        if (ok && S_ISDIR(st.st_mode) && depth < KB_MAX_DEPTH) {
            int sub = collect(root, relname, depth + 1, nl, err);
            free(relname);
            if (sub != 0)
                goto out;
        } else if (ok && S_ISREG(st.st_mode) && l > 3 && strcmp(de->d_name + l - 3, ".md") == 0) {
            if (nl->n >= KB_MAX_FILES) {
                free(relname);
                err_set(err, "KbLoadFailed", "'%s' holds more than %d articles", root,
                        KB_MAX_FILES);
                goto out;
            }
            names_push(nl, relname);
        } else {
            free(relname);
        }
    }
    rc = 0;
out:
    if (d)
        closedir(d);
    free(dirpath);
    return rc;
}

int kb_md_load(struct kb_md *md, const char *root, struct err *err)
{
    memset(md, 0, sizeof *md);
    struct name_list nl = {0};
    int rc = -1;
    if (collect(root, "", 0, &nl, err) != 0)
        goto out;
    if (nl.n > 1)
        qsort(nl.v, nl.n, sizeof nl.v[0], cmp_str);
    md->articles = xcalloc(nl.n + 1, sizeof md->articles[0]);
    for (size_t i = 0; i < nl.n; i++) {
        char *path = xasprintf("%s/%s", root, nl.v[i]);
        char *raw = NULL;
        size_t len = 0;
        int rrc = read_file(path, &raw, &len, err);
        if (rrc == 0)
            rrc = check_text(path, raw, len, err);
        free(path);
        if (rrc != 0) {
            free(raw);
            goto out;
        }
        size_t ai = md->n_articles++;
        md->articles[ai].name = xstrdup(nl.v[i]);
        md->articles[ai].title = xstrdup(nl.v[i]);
        parse_article(md, ai, raw);
        free(raw);
    }
    if (md->n_passages == 0) {
        err_set(err, "KbEmpty", "knowledge base directory '%s' holds no *.md article with text",
                root);
        goto out;
    }
    rc = 0;
out:
    for (size_t i = 0; i < nl.n; i++)
        free(nl.v[i]);
    free(nl.v);
    if (rc != 0)
        kb_md_release(md);
    return rc;
}

void kb_md_release(struct kb_md *md)
{
    for (size_t i = 0; i < md->n_articles; i++) {
        free(md->articles[i].name);
        free(md->articles[i].title);
    }
    free(md->articles);
    for (size_t i = 0; i < md->n_passages; i++) {
        free(md->passages[i].section);
        free(md->passages[i].text);
    }
    free(md->passages);
    memset(md, 0, sizeof *md);
}
