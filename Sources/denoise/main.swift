import DenoiseKit
import Foundation

print("denoise: not built yet")
exit(1)
