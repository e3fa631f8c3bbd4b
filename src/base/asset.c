/*
 * asset.c - locates bundled files relative to the binary; see asset.h.
 */
#include "base/asset.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/xmalloc.h"

char *asset_path(const char *path)
{
    if (path[0] == '/' || access(path, R_OK) == 0)
        return xstrdup(path);
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        for (int up = 0; up < 3; up++) {
            char *slash = strrchr(exe, '/');
            if (!slash)
                break;
            *slash = '\0';
            char *candidate = xasprintf("%s/%s", exe, path);
            if (access(candidate, R_OK) == 0)
                return candidate;
            free(candidate);
        }
    }
    return xstrdup(path);
}
