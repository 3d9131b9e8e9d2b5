// asl-validator 4.0.0 ships no type declarations.
declare module "asl-validator" {
    interface AslValidationError {
        "Error code": string;
        Message: string;
    }
    function aslValidator(definition: unknown, options?: { checkPaths?: boolean; checkArn?: boolean }): {
        isValid: boolean;
        errors: AslValidationError[];
        errorsText(separator?: string): string;
    };
    export default aslValidator;
}
