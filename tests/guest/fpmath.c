/* Floating-point work for the "same output natively and in the guest"
 * test: x87 and SSE2 arithmetic, libm, conversions and rounding modes.
 * Built with gcc -m32 -static twice (x87 and -msse2 -mfpmath=sse); every
 * result is printed exactly (%a and %.17g), so any difference in a single
 * bit between the host CPU and ironpc's FPU shows. Deterministic: a fixed
 * linear congruential generator feeds the inputs. */
#include <fenv.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>

static uint32_t seed = 12345u;

static double next(void) {
    seed = seed * 1103515245u + 12345u;
    return ((double)(seed >> 8) / 16777216.0 - 0.5) * 200.0;
}

static void line(const char *what, double v) {
    printf("%-10s %a %.17g\n", what, v, v);
}

int main(void) {
    static const int modes[] = {FE_TONEAREST, FE_DOWNWARD, FE_UPWARD, FE_TOWARDZERO};
    double acc = 0.0;
    long double ext = 1.0L;
    float f = 1.0f;
    for (int i = 0; i < 40; i++) {
        double a = next(), b = next();
        fesetround(modes[i % 4]);
        line("add", a + b);
        line("mul", a * b);
        line("div", a / b);
        line("sqrt", sqrt(fabs(a)));
        fesetround(FE_TONEAREST);
        line("sin", sin(a));
        line("cos", cos(b));
        line("exp", exp(a / 10.0));
        line("log", log(fabs(b) + 1e-3));
        line("pow", pow(fabs(a), 0.37));
        line("atan2", atan2(a, b));
        printf("%-10s %ld %lld\n", "lrint", lrint(a * 1e3), llrint(b * 1e9));
        acc += a * b - acc / 3.0;
        ext = ext * (long double)a / 7.0L + 1.0L / 3.0L;
        f = f * (float)(b / 100.0) + 0.1f;
    }
    line("acc", acc);
    printf("%-10s %La\n", "ext", ext);
    printf("%-10s %a\n", "float", (double)f);
    printf("%-10s %a %a\n", "special", sqrt(-1.0), 1.0 / 0.0);
    printf("fpmath: done\n");
    return 0;
}
