/* Prints its argument as a number, then dies of SIGSEGV when it is negative (B4). */
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    double x = strtod(argv[1], NULL);
    if (x < 0) { volatile int *p = NULL; *p = 1; }
    printf("%.17g\n", 2.0 * x);
    return 0;
}
