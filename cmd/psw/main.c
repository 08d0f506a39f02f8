/* cmd/psw.c — placeholder until its issue lands: prints usage. */
#include <stdio.h>

int main(int argc, char **argv)
{
    (void)argc;
    fprintf(stderr, "usage: %s [--config FILE] (not implemented yet)\n", argv[0]);
    return 2;
}
