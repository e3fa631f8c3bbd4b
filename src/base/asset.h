/*
 * asset.h - finding the files Parley ships beside its binary (the state machine, the knowledge
 * base, the web pages, the demo agent file), whether it runs from the repository it was built in
 * (build/parley, build/san/parley) or from an installed tree.
 */
#ifndef PARLEY_ASSET_H
#define PARLEY_ASSET_H

/* Returns path as given when it is absolute or readable from the working directory, else the
 * first readable candidate relative to up to three parent directories of the running binary,
 * else path unchanged. Always a new string (free it). */
char *asset_path(const char *path);

#endif
