/* The Ishigami function as an external simulator: reads "x1 x2 x3" from in.txt and
 * prints f = sin(x1) + 7 sin(x2)^2 + 0.1 x3^4 sin(x1) with 17 significant digits. */
#include <math.h>
#include <stdio.h>
int main(void) {
    double x1, x2, x3;
    FILE *f = fopen("in.txt", "r");
    if (!f || fscanf(f, "%lf %lf %lf", &x1, &x2, &x3) != 3) return 2;
    fclose(f);
    double s2 = sin(x2);
    printf("%.17g\n", sin(x1) + 7.0 * s2 * s2 + 0.1 * pow(x3, 4) * sin(x1));
    return 0;
}
