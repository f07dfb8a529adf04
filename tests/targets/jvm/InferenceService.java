// A JVM whose JNI library leaks a tensor per request (tests/e2e/test_jvm.py).
// Protocol on stdin/stdout, one line each:
//   after warm-up (handle() called WARMUP times, so that it is compiled:
//   run with -Xbatch -XX:-TieredCompilation, handle() not inlined):
//                          "ready PID"
//   "call N"  -> handle() N times, each leaks one tensor of SIZE bytes;
//                          "called N"
//   "late N"  -> handleLate() N times (compiled during the N calls when N is
//                over the compile threshold), each leaks one tensor of LATE_SIZE;
//                          "lated N"
//   "exit"    -> "bye", exit status 0.
import java.io.BufferedReader;
import java.io.InputStreamReader;

public class InferenceService {
    static final int SIZE = 4093;
    static final int LATE_SIZE = 61;
    static final int WARMUP = 20000;

    static native long createTensor(int bytes);
    static native void freeTensor(long tensor);

    static long handle(int bytes) {
        return createTensor(bytes);
    }

    static long handleLate(int bytes) {
        return createTensor(bytes);
    }

    public static void main(String[] args) throws Exception {
        System.loadLibrary("tensor");
        for (int i = 0; i < WARMUP; i++)
            freeTensor(handle(SIZE));
        System.out.println("ready " + ProcessHandle.current().pid());
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        long kept = 0;
        String line;
        while ((line = in.readLine()) != null && !line.equals("exit")) {
            String[] w = line.split(" ");
            int n = Integer.parseInt(w[1]);
            for (int i = 0; i < n; i++)
                kept += (w[0].equals("call") ? handle(SIZE) : handleLate(LATE_SIZE)) != 0 ? 1 : 0;
            System.out.println((w[0].equals("call") ? "called " : "lated ") + n);
        }
        System.out.println("bye " + kept);
    }
}
