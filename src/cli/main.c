/* main.c - placeholder entry point; replaced by the CLI dispatcher. */
#include <stdio.h>
int main(void)
{
    puts("parley");
    return 0;
}
